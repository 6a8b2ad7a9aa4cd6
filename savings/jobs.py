"""Savings' periodic work (the scheduler runs `run_daily` every night; it is idempotent).

Each night: close the chama rounds that ended, credit last month's interest
(skipped once credited), and apply last month's regular-saving raises (once
per member and month). Each part in its own transaction, so one failing does
not hold back the others.
"""

from __future__ import annotations

import logging
from datetime import date

from core import runtime
from lending.localtime import today
from lending.schedule import add_months
from savings import chamas, interest, regularity

logger = logging.getLogger(__name__)


def run_daily(on: str | None = None) -> dict[str, object]:
    """Close ended chama rounds; credit last month's interest; apply saving raises."""
    day = date.fromisoformat(on) if on else today()
    last_month = add_months(day.replace(day=1), -1)
    db = runtime.current().db
    with db.transaction() as session:
        rounds = chamas.close_due_rounds(session, day)
    with db.transaction() as session:
        run = interest.credit_month(session, last_month, day)
    with db.transaction() as session:
        raises = regularity.apply_month(session, last_month)
    result: dict[str, object] = {"rounds_closed": rounds, "interest_month": run.month,
                                 "interest_credited": run.credited, "interest_total": run.total,
                                 "limits_raised": len(raises)}
    logger.info("savings daily run: %s", result)
    return result
