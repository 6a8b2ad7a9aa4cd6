"""Borrower protection: credit limits that grow with on-time repayment, hardship, write-off.

Credit-limit rules (docs/lending.md):
- a new member starts at KES 2,000;
- a loan repaid with no installment more than 3 days late raises the limit by half,
  rounded (half-even) to KES 500, capped at KES 100,000;
- a loan repaid later than that takes the limit back to where it was before its
  last increase;
- a default sets the limit to KES 0 until an operator sets it again.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.money import round_half_even
from lending.errors import LendingError
from lending.localtime import local_date
from lending.models import LimitChange, Loan, Member

START_LIMIT = 200_000  # KES 2,000
LIMIT_STEP = 50_000  # limits move in KES 500
MAX_LIMIT = 10_000_000  # KES 100,000
GROWTH = Decimal("1.5")
ON_TIME_DAYS = 3  # an installment paid up to 3 days after its due date is still on time


# --- credit limits ------------------------------------------------------------------


def change_limit(
    session: Session, member: Member, new: int, *, reason: str, loan_id: int | None = None
) -> LimitChange | None:
    """Set a member's limit and record why; no record when nothing changes."""
    if new < 0:
        raise LendingError("invalid_limit", "a credit limit cannot be negative", field="limit")
    if new == member.credit_limit and reason != "initial":
        return None
    change = LimitChange(
        member_id=member.id, old=member.credit_limit, new=new, reason=reason[:120],
        loan_id=loan_id, at=utcnow(),
    )
    member.credit_limit = new
    session.add(change)
    return change


def grown_limit(limit: int) -> int:
    """The limit after an on-time loan: x1.5, to the nearest KES 500, at most KES 100,000."""
    steps = round_half_even(Decimal(limit) * GROWTH / LIMIT_STEP)
    return min(max(steps * LIMIT_STEP, limit), MAX_LIMIT)


def days_late(loan: Loan) -> int:
    """The most days any installment was paid after its due date (0 if all on time)."""
    late = [
        (local_date(row.paid_at) - row.due_date).days
        for row in loan.installments
        if row.paid_at is not None
    ]
    return max([0, *late])


def previous_limit(session: Session, member: Member) -> int:
    """The limit before the last increase that led to the current one."""
    last_increase = session.scalar(
        select(LimitChange)
        .where(LimitChange.member_id == member.id, LimitChange.new > LimitChange.old)
        .where(LimitChange.reason != "initial")
        .order_by(LimitChange.at.desc(), LimitChange.id.desc())
        .limit(1)
    )
    if last_increase is None or last_increase.new != member.credit_limit:
        return member.credit_limit
    return last_increase.old


def on_loan_repaid(session: Session, loan: Loan) -> LimitChange | None:
    """Grow the limit after an on-time loan; step it back after a late one."""
    member = loan.borrower
    if days_late(loan) <= ON_TIME_DAYS:
        return change_limit(
            session, member, grown_limit(member.credit_limit), reason="repaid on time",
            loan_id=loan.id,
        )
    return change_limit(
        session, member, previous_limit(session, member), reason="repaid late", loan_id=loan.id
    )


def on_loan_defaulted(session: Session, loan: Loan) -> LimitChange | None:
    """A default stops new borrowing until an operator decides otherwise."""
    return change_limit(session, loan.borrower, 0, reason="default", loan_id=loan.id)


def set_credit_limit(
    session: Session, member_id: int, new_limit: int, *, actor: str, reason: str
) -> LimitChange | None:
    """An operator sets a member's limit (e.g. after a default is resolved)."""
    member = session.get(Member, member_id)
    if member is None:
        raise LendingError("unknown_member", f"no member {member_id}")
    if new_limit > MAX_LIMIT:
        raise LendingError("invalid_limit", "above the platform maximum", field="limit")
    return change_limit(session, member, new_limit, reason=f"{actor}: {reason}")
