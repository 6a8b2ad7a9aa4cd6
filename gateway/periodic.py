"""Periodic work, run by the `scheduler` process (rq's CronScheduler).

Every job here is idempotent, so a duplicate run (two schedulers, a restart)
changes nothing. Entries whose module is not installed are skipped.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Periodic:
    func: str
    queue: str
    interval: int | None = None
    cron: str | None = None


PERIODIC = (
    Periodic("core.outbox.sweep", "default", interval=15),
    Periodic("payments.sweeps.run_sweeps", "payments", interval=60),
    Periodic("lending.jobs.run_daily", "default", cron="5 0 * * *"),
    Periodic("messaging.reminders.run_reminders", "sms", cron="*/30 * * * *"),
    # Hourly; it sends only once a day, after lending.digest.DIGEST_HOUR local time.
    Periodic("lending.digest.send_lender_digests", "sms", cron="7 * * * *"),
    # Repayments make lenders' money idle again: place it every few minutes.
    Periodic("lending.autolend.autolend_job", "default", interval=300),
    # Chama rounds that ended, last month's savings interest and saving raises (idempotent).
    Periodic("savings.jobs.run_daily", "default", cron="20 0 * * *"),
    # Survey invitations by SMS, mid-morning local time (07:00 UTC is 10:00 in Nairobi).
    Periodic("impact.jobs.run_invitations", "default", cron="0 7 * * *"),
)


def resolve(dotted: str) -> Callable[..., Any] | None:
    module_name, _, attr = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None
    func: Callable[..., Any] | None = getattr(module, attr, None)
    return func


def available() -> list[tuple[Periodic, Callable[..., Any]]]:
    found = []
    for entry in PERIODIC:
        func = resolve(entry.func)
        if func is not None:
            found.append((entry, func))
    return found
