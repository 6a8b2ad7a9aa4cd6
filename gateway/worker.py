"""The worker and scheduler processes."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys

from rq import SimpleWorker
from rq.cron import CronScheduler

from core.jobs import QUEUES, get_queue
from core.runtime import Runtime
from gateway.periodic import PERIODIC
from gateway.wiring import wire

logger = logging.getLogger(__name__)


def run_worker(runtime: Runtime, *, burst: bool = False) -> bool:
    """Work every queue in priority order.

    A SimpleWorker runs jobs in its own process instead of forking one per job:
    a fork per job costs more than most of our jobs (a few milliseconds of SQL),
    and processing must keep up with callbacks arriving by the hundred per
    second. Isolation comes from running several worker processes; a worker
    that dies leaves its job in rq's registries and its work in the database,
    where the sweepers find it. Engines are created lazily, after any fork.
    """
    wire()
    die_with_this_process()
    queues = [get_queue(name) for name in QUEUES]
    worker = SimpleWorker(queues, connection=runtime.redis)
    # rq sets its logger to this level: DEBUG (LOG_LEVEL) brings back its per-job lines.
    level = runtime.settings.log_level
    return bool(worker.work(burst=burst, with_scheduler=True, logging_level=level))


def run_scheduler(runtime: Runtime) -> None:
    """Enqueue the periodic jobs of `gateway.periodic` on time, forever."""
    scheduler = CronScheduler(connection=runtime.redis, name="mkopo-scheduler")
    for entry in PERIODIC:
        scheduler.register(entry.func, entry.queue, interval=entry.interval, cron=entry.cron)
        logger.info("periodic job %s registered", entry.name)
    scheduler.start()


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_this_process() -> None:
    """Make every child this process forks from now on (rq's scheduler) end when it ends.

    rq runs its scheduler in a forked child. A worker killed with SIGKILL cannot
    stop it, and the orphan would go on holding the scheduler's lock in Redis and
    enqueueing jobs with nobody to run them. On Linux the kernel sends the child
    SIGTERM when its parent dies (PR_SET_PDEATHSIG); rq's scheduler stops cleanly
    on SIGTERM and releases its lock. Elsewhere this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getpid()
    os.register_at_fork(after_in_child=lambda: _ask_for_death_signal(parent))


def _ask_for_death_signal(parent: int) -> None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %s", ctypes.get_errno())
            return
    except OSError:
        logger.warning("no libc to ask for a parent-death signal", exc_info=True)
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
