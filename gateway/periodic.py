"""Periodic work, run by the `scheduler` process (rq's CronScheduler).

Every job here is idempotent, so a duplicate run (two schedulers, a restart)
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.outbox import sweep
from impact.jobs import run_invitations
from lending import autolend, digest
from lending import jobs as lending_jobs
from messaging.reminders import run_reminders
from payments.sweeps import run_sweeps
from savings import jobs as savings_jobs


@dataclass(frozen=True)
class Periodic:
    func: Callable[..., Any]
    queue: str
    interval: int | None = None
    cron: str | None = None

    @property
    def name(self) -> str:
        """The job's dotted name, as logs and rq show it."""
        return f"{self.func.__module__}.{self.func.__qualname__}"


PERIODIC = (
    Periodic(sweep, "default", interval=15),
    Periodic(run_sweeps, "payments", interval=60),
    Periodic(lending_jobs.run_daily, "default", cron="5 0 * * *"),
    Periodic(run_reminders, "sms", cron="*/30 * * * *"),
    # Hourly; it sends only once a day, after lending.digest.DIGEST_HOUR local time.
    Periodic(digest.send_lender_digests, "sms", cron="7 * * * *"),
    # Repayments make lenders' money idle again: place it every few minutes.
    Periodic(autolend.autolend_job, "default", interval=300),
    # Chama rounds that ended, last month's savings interest and saving raises (idempotent).
    Periodic(savings_jobs.run_daily, "default", cron="20 0 * * *"),
    # Survey invitations by SMS, mid-morning local time (07:00 UTC is 10:00 in Nairobi).
    Periodic(run_invitations, "default", cron="0 7 * * *"),
)
