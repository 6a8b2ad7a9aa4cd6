"""Background jobs as the admin page shows them: queue lengths and failed jobs to requeue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rq.job import Job
from rq.registry import FailedJobRegistry

from core.jobs import QUEUES, get_queue


@dataclass(frozen=True)
class QueueState:
    name: str
    waiting: int
    started: int
    scheduled: int
    failed: int


@dataclass(frozen=True)
class FailedJob:
    queue: str
    job_id: str
    function: str
    ended_at: datetime | None
    error: str


def queue_states() -> list[QueueState]:
    """How many jobs wait, run, are scheduled and have failed, per queue."""
    states = []
    for name in QUEUES:
        queue = get_queue(name)
        states.append(QueueState(name, queue.count, queue.started_job_registry.count,
                                 queue.scheduled_job_registry.count,
                                 queue.failed_job_registry.count))
    return states


def failed_jobs(limit: int = 50) -> list[FailedJob]:
    """The latest failed jobs of every queue, with the last line of their error."""
    found = []
    for name in QUEUES:
        queue = get_queue(name)
        ids = queue.failed_job_registry.get_job_ids(0, limit - 1)
        for job in Job.fetch_many(ids, connection=queue.connection):
            if job is None:
                continue
            result = job.latest_result()
            error = ((result.exc_string if result else "") or "").strip().splitlines()
            found.append(FailedJob(name, job.id, job.func_name or "?", job.ended_at,
                                   error[-1][:300] if error else ""))
    return found[:limit]


def requeue(queue_name: str, job_id: str) -> None:
    """Put a failed job back on its queue; KeyError if it is not in the failed registry."""
    queue = get_queue(queue_name)
    registry = FailedJobRegistry(queue=queue)
    if job_id not in registry.get_job_ids():
        raise KeyError(job_id)
    registry.requeue(job_id)
