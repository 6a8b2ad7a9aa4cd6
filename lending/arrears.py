"""Arrears: days past due, delinquency buckets, penalties, in-duplum and defaults.

"In arrears" is derived from days past due; it is never a stored status.
Penalties never stack: the base is the installment's overdue principal and
interest, never earlier penalties, and the penalties on one installment stay
within the product's cap. Daily penalties are charged for the day the job runs
(a missed day is not caught up). In-duplum (Kenya's Banking Act s.44A): once a
loan is non-performing, interest and penalties charged from then on never exceed
the principal outstanding on that day; scheduled interest still to fall due is
trimmed (latest installments first) to fit, and penalties get what is left.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from core.money import round_half_even
from ledger import PENALTY_INCOME, credit, debit, loan_penalties
from lending.lifecycle import lock_loan, transition
from lending.loans import days_past_due, principal_outstanding, unpaid
from lending.models import ACTIVE, DEFAULTED, REPAYABLE_STATUSES, Loan, LoanInstallment, Product
from lending.protection import on_loan_defaulted

__all__ = [
    "BUCKETS", "NON_PERFORMING_AFTER", "PAR1", "PAR30", "PAR90", "PAR_LABELS", "PAR_THRESHOLDS",
    "apply_penalties", "bucket",
    "days_past_due", "in_arrears", "mark_defaults", "mark_non_performing",
]

NON_PERFORMING_AFTER = 90  # more than 90 days past due: non-performing, and defaulted
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("current", 0, 0), ("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None),
)
PAR1, PAR30, PAR90 = "par1", "par30", "par90"
"""The keys of portfolio-at-risk figures; readers use these names, never spelled-out strings."""
PAR_THRESHOLDS = {PAR1: 1, PAR30: 31, PAR90: 91}
"""Portfolio at risk n: principal of loans at least this many days past due (PAR30: >30)."""
PAR_LABELS = {PAR1: "PAR1", PAR30: "PAR30", PAR90: "PAR90"}
"""How each measure is written for people (charts, cards, reports)."""


def bucket(dpd: int) -> str:
    """The delinquency bucket for a number of days past due."""
    for name, low, high in BUCKETS:
        if dpd >= low and (high is None or dpd <= high):
            return name
    raise ValueError("days past due cannot be negative")


def in_arrears(loan: Loan, today: date) -> bool:
    return days_past_due(loan, today) > 0


def _late_loan_ids(session: Session, today: date, *, days: int = 0) -> list[int]:
    """Repayable loans with principal or interest unpaid more than `days` after a due date."""
    owing = (LoanInstallment.principal_paid < LoanInstallment.principal) | (
        LoanInstallment.interest_paid < LoanInstallment.interest
    )
    return list(session.scalars(
        select(Loan.id).distinct()
        .join(LoanInstallment, LoanInstallment.loan_id == Loan.id)
        .where(Loan.status.in_(REPAYABLE_STATUSES), owing)
        .where(LoanInstallment.due_date < today - timedelta(days=days))
        .order_by(Loan.id)
    ))


# --- in-duplum ---------------------------------------------------------------------------


def mark_non_performing(loan: Loan, today: date) -> bool:
    """Record when a loan became non-performing and cap what may be charged from then."""
    if loan.nonperforming_since is not None:
        return False
    if days_past_due(loan, today) <= NON_PERFORMING_AFTER:
        return False
    loan.nonperforming_since = today
    loan.in_duplum_cap = principal_outstanding(loan)
    loan.in_duplum_charged = _trim_future_interest(loan, today, loan.in_duplum_cap)
    return True


def _trim_future_interest(loan: Loan, today: date, cap: int) -> int:
    """Cut interest not yet due down to `cap`, latest first; returns what remains of it."""
    future = [row for row in loan.installments if row.due_date >= today]
    excess = sum(row.interest_due for row in future) - cap
    for row in reversed(future):
        if excess <= 0:
            break
        cut = min(excess, row.interest_due)
        row.interest -= cut
        excess -= cut
    return sum(row.interest_due for row in future)


# --- penalties -----------------------------------------------------------------------------


def apply_penalties(session: Session, today: date) -> int:
    """Charge today's penalties on late installments; returns how many were posted."""
    posted = 0
    for loan_id in _late_loan_ids(session, today):
        loan = lock_loan(session, loan_id)
        if loan.status not in REPAYABLE_STATUSES or loan.product.penalty_kind == "none":
            continue
        mark_non_performing(loan, today)
        for row in unpaid(loan):
            if row.due_date < today:
                posted += _charge(session, loan, row, today)
    return posted


def _already_charged(product: Product, row: LoanInstallment, today: date) -> bool:
    if product.penalty_kind == "one_time":
        return row.penalty_charged_on is not None
    return row.penalty_charged_on == today


def penalty_due(loan: Loan, row: LoanInstallment) -> int:
    """Today's penalty on one late installment: its rate on overdue principal+interest, capped."""
    terms = loan.product.to_terms()
    amount = round_half_even(row.scheduled_due * terms.penalty_percent / 100)
    room = round_half_even(row.amount * terms.penalty_cap_percent / 100) - row.penalty_charged
    if loan.in_duplum_cap is not None:
        room = min(room, loan.in_duplum_cap - loan.in_duplum_charged)
    return max(0, min(amount, room))


def _charge(session: Session, loan: Loan, row: LoanInstallment, today: date) -> int:
    if _already_charged(loan.product, row, today):
        return 0
    amount = penalty_due(loan, row)
    if amount == 0:
        return 0
    daily = loan.product.penalty_kind == "daily"
    ledger.post(
        session, f"penalty:{row.id}:{today.isoformat()}" if daily else f"penalty:{row.id}",
        "loan_penalty", [debit(loan_penalties(loan.id), amount), credit(PENALTY_INCOME, amount)],
        currency=loan.currency, loan_id=loan.id, member_id=loan.borrower_id,
        description=f"Late penalty, loan {loan.reference} installment {row.number}",
        meta={"installment": row.number, "amount": amount, "day": today.isoformat()},
    )
    row.penalty_charged += amount
    row.penalty_charged_on = today
    if loan.in_duplum_cap is not None:
        loan.in_duplum_charged += amount
    return 1


# --- defaults ------------------------------------------------------------------------------


def mark_defaults(session: Session, today: date) -> int:
    """Active loans more than 90 days past due become defaulted; returns how many."""
    marked = 0
    for loan_id in _late_loan_ids(session, today, days=NON_PERFORMING_AFTER):
        loan = lock_loan(session, loan_id)
        mark_non_performing(loan, today)
        dpd = days_past_due(loan, today)
        if loan.status == ACTIVE and dpd > NON_PERFORMING_AFTER:
            transition(session, loan, DEFAULTED, actor="system", reason=f"{dpd} days past due")
            on_loan_defaulted(session, loan)
            marked += 1
    return marked
