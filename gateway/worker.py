"""The worker and scheduler processes."""

from __future__ import annotations

import logging

from rq import SimpleWorker
from rq.cron import CronScheduler

from core.jobs import QUEUES, get_queue
from core.runtime import Runtime
from gateway.periodic import available
from gateway.wiring import import_handlers

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
    import_handlers()
    queues = [get_queue(name) for name in QUEUES]
    worker = SimpleWorker(queues, connection=runtime.redis)
    return bool(worker.work(burst=burst, with_scheduler=True, logging_level="INFO"))


def run_scheduler(runtime: Runtime) -> None:
    """Enqueue the periodic jobs of `gateway.periodic` on time, forever."""
    scheduler = CronScheduler(connection=runtime.redis, name="mkopo-scheduler")
    for entry, func in available():
        scheduler.register(func, entry.queue, interval=entry.interval, cron=entry.cron)
        logger.info("periodic job %s registered", entry.func)
    scheduler.start()
