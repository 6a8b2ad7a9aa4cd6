"""rq queues and enqueueing. Jobs take primitive ids and open their own unit of work."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rq import Queue, Retry
from rq.job import Job

from core import runtime

logger = logging.getLogger(__name__)

QUEUES = ("payments", "sms", "default")
"""Worker listening order: money first, then messages, then everything else."""


def default_retry() -> Retry:
    return Retry(max=5, interval=[5, 30, 120, 600, 1800])


def get_queue(name: str = "default") -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=runtime.current().redis)


def enqueue(
    func: Callable[..., Any],
    *args: Any,
    queue: str = "default",
    job_id: str | None = None,
    retry: Retry | None = None,
    fresh: bool = False,
    **kwargs: Any,
) -> Job | None:
    """Enqueue a job; with `job_id`, a job already waiting under that id is not doubled.

    `fresh`: the caller knows no job ever had this id (e.g. a row id just inserted),
    which saves the look-up.
    """
    q = get_queue(queue)
    if job_id is not None and not fresh:
        existing = q.fetch_job(job_id)
        if existing is not None and existing.get_status(refresh=True) in ("queued", "scheduled"):
            return existing
    return q.enqueue_call(
        func, args=args, kwargs=kwargs, job_id=job_id, retry=retry or default_retry()
    )


def enqueue_quietly(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Job | None:
    """Enqueue, but never fail the caller: the sweepers find what Redis lost."""
    try:
        return enqueue(func, *args, **kwargs)
    except Exception:  # noqa: BLE001 - Redis being down must not undo a committed change
        logger.warning("enqueue failed; the sweeper will pick it up", exc_info=True)
        return None


# --- drains: one job works a table's backlog, enqueued once per burst -----------------------

DRAIN_FLAG_SECONDS = 30
"""How long a requested drain counts as waiting. A drain job lost with Redis or a worker
stops new requests for at most this long (the sweepers find its rows meanwhile); one that
waits longer in a long queue only gets a second drain beside it, which is harmless."""


def _drain_flag(name: str) -> str:
    return f"mkopo:drain:{name}"


def request_drain(func: Callable[..., Any], *args: Any, name: str, queue: str) -> bool:
    """Enqueue `func` (a drain job) unless one is already waiting; never fails the caller.

    A drain job calls `drain_started(name)` before it looks at its table, so a row
    committed before a request that found the flag set is always seen by the waiting
    job. One Redis round trip when a drain is waiting, two when one is enqueued.
    Returns whether a job was enqueued.
    """
    try:
        redis = runtime.current().redis
        if not redis.set(_drain_flag(name), 1, nx=True, ex=DRAIN_FLAG_SECONDS):
            return False
        q = get_queue(queue)
        pipe = q.connection.pipeline()
        q.enqueue_call(func, args=args, pipeline=pipe)
        pipe.execute()
        return True
    except Exception:  # noqa: BLE001 - the rows are committed; the sweepers find them
        logger.warning("drain %s not enqueued; the sweeper will pick up its rows", name,
                       exc_info=True)
        return False


def drain_started(name: str) -> None:
    """A drain job has started: rows committed from now on need (and get) another request."""
    try:
        runtime.current().redis.delete(_drain_flag(name))
    except Exception:  # noqa: BLE001 - the flag then expires on its own
        logger.warning("drain %s flag not cleared", name, exc_info=True)
