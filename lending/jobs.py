"""Periodic lending work, run by the scheduler (gateway.periodic): idempotent daily steps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from sqlalchemy.orm import Session

from core import runtime
from core.clock import utcnow
from lending.arrears import apply_penalties, mark_defaults
from lending.funding import expire_fundraising
from lending.localtime import today
from lending.repayments import apply_credit_balances

logger = logging.getLogger(__name__)

DailyStep = Callable[[Session, date], int]

STEPS: tuple[tuple[str, DailyStep], ...] = (
    ("expired", lambda session, _day: expire_fundraising(session, utcnow())),
    ("credit_applied", apply_credit_balances),
    ("defaulted", mark_defaults),
    ("penalties", apply_penalties),
)
"""Order matters: credit is spent before a loan is judged late, defaults before penalties."""


def run_daily() -> dict[str, int]:
    """The daily lending run (an rq job): each step in its own unit of work."""
    day = today()
    counts: dict[str, int] = {}
    for name, step in STEPS:
        # one transaction per step: a failure in one leaves the others' work committed,
        # and every step is idempotent, so the rerun after a fix finishes the day
        with runtime.current().db.transaction() as session:
            counts[name] = step(session, day)
    logger.info("lending daily run for %s: %s", day, counts)
    return counts
