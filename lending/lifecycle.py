"""The loan state machine: one transition table, every move recorded with actor and time.

"In arrears" is not a status: it is derived from days past due (lending.arrears).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from lending.errors import LendingError
from lending.models import (
    ACTIVE,
    APPROVED,
    CANCELLED,
    DEFAULTED,
    DISBURSING,
    EXPIRED,
    FUNDED,
    FUNDRAISING,
    PENDING_REVIEW,
    RECOVERED,
    REJECTED,
    REPAID,
    WRITTEN_OFF,
    Loan,
    LoanTransition,
)

TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING_REVIEW: frozenset({APPROVED, REJECTED, CANCELLED}),
    APPROVED: frozenset({FUNDRAISING, CANCELLED}),
    FUNDRAISING: frozenset({FUNDED, EXPIRED, CANCELLED}),
    FUNDED: frozenset({DISBURSING}),
    DISBURSING: frozenset({ACTIVE, FUNDED}),  # back to funded when the payout failed
    ACTIVE: frozenset({REPAID, DEFAULTED, WRITTEN_OFF}),
    DEFAULTED: frozenset({ACTIVE, WRITTEN_OFF, REPAID}),  # defaulted -> active: cured
    WRITTEN_OFF: frozenset({RECOVERED}),
}
"""Legal moves: status -> the statuses it may move to. Absent statuses are final."""

CLOSING = frozenset({REJECTED, CANCELLED, EXPIRED, REPAID, WRITTEN_OFF})
"""Statuses that close a loan (stamp `closed_at`)."""


def can_move(from_status: str, to_status: str) -> bool:
    """Whether the table allows this move."""
    return to_status in TRANSITIONS.get(from_status, frozenset())


def transition(
    session: Session, loan: Loan, to_status: str, *, actor: str, reason: str = ""
) -> LoanTransition:
    """Move `loan` to `to_status` and record who did it; illegal moves raise."""
    if not can_move(loan.status, to_status):
        raise LendingError(
            "illegal_transition", f"a loan cannot go from {loan.status} to {to_status}"
        )
    record = LoanTransition(
        loan_id=loan.id, from_status=loan.status, to_status=to_status,
        actor=actor[:80], reason=reason[:300], at=utcnow(),
    )
    session.add(record)
    loan.status = to_status
    if to_status in CLOSING:
        loan.closed_at = record.at
    return record


def lock_loan(session: Session, loan_id: int) -> Loan:
    """The loan, row-locked for the rest of the transaction; LendingError if unknown."""
    query = select(Loan).where(Loan.id == loan_id).execution_options(populate_existing=True)
    # OF loans: the eagerly joined borrower and product rows must stay unlocked,
    # or every repayment of one product would queue behind the others
    query = query.with_for_update(of=Loan)
    loan = session.scalar(query)
    if loan is None:
        raise LendingError("unknown_loan", f"no loan {loan_id}")
    return loan


def history(session: Session, loan_id: int) -> list[LoanTransition]:
    """Every recorded move of a loan, oldest first."""
    return list(
        session.scalars(
            select(LoanTransition)
            .where(LoanTransition.loan_id == loan_id)
            .order_by(LoanTransition.at, LoanTransition.id)
        )
    )
