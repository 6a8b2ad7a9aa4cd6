"""Figures derived from a loan's schedule, and storing a quote's schedule on a loan."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from sqlalchemy.orm import Session

from lending.disclosure import Quote
from lending.models import Loan, LoanInstallment
from lending.schedule import Installment


class _Owing(Protocol):
    """An installment as `next_due_after_credit` reads it (ORM row or plain values)."""

    @property
    def number(self) -> int: ...
    @property
    def due_date(self) -> date: ...
    @property
    def outstanding(self) -> int: ...


class _Late(Protocol):
    """An installment as `days_late` reads it."""

    @property
    def due_date(self) -> date: ...
    @property
    def scheduled_due(self) -> int: ...


def store_quote(session: Session, loan: Loan, offer: Quote) -> None:
    """Put a quote's figures and schedule on the loan, replacing any earlier schedule."""
    loan.amount, loan.term = offer.amount, offer.term
    loan.upfront_fee, loan.net_disbursed = offer.upfront_fee, offer.net_disbursed
    loan.credit_life_premium = offer.credit_life_premium
    loan.total_repayable, loan.apr = offer.total_repayable, str(offer.apr)
    replace_installments(session, loan, offer.installments)


def replace_installments(
    session: Session, loan: Loan, rows: Sequence[Installment], *, first_number: int = 1,
    keep: Sequence[LoanInstallment] = (),
) -> None:
    """Swap the loan's installments for `rows` (numbered from `first_number`), keeping `keep`."""
    loan.installments = list(keep)
    # flush the deletes first: new rows reuse (loan_id, number) pairs that are unique
    session.flush()
    loan.installments.extend(
        LoanInstallment(
            number=first_number + i, due_date=row.due_date, principal=row.principal,
            interest=row.interest, principal_paid=0, interest_paid=0, penalty_charged=0,
            penalty_paid=0,
        )
        for i, row in enumerate(rows)
    )
    session.flush()


def unpaid(loan: Loan) -> list[LoanInstallment]:
    """Installments with principal or interest still owed, in due order."""
    return [row for row in loan.installments if row.scheduled_due > 0]


def principal_outstanding(loan: Loan) -> int:
    return sum(row.principal_due for row in loan.installments)


def interest_outstanding(loan: Loan) -> int:
    return sum(row.interest_due for row in loan.installments)


def penalties_outstanding(loan: Loan) -> int:
    return sum(row.penalty_due for row in loan.installments)


def outstanding_balance(loan: Loan) -> int:
    """Everything the borrower still owes: principal, interest and penalties."""
    return sum(row.outstanding for row in loan.installments)


def next_due(loan: Loan, today: date) -> tuple[date, int] | None:
    """The earliest unpaid due date and what is owed by then (all arrears when late)."""
    owing = [row for row in loan.installments if row.outstanding > 0]
    if not owing:
        return None
    first = owing[0].due_date
    cutoff = first if first > today else today  # not late: just the next installment
    return first, sum(row.outstanding for row in owing if row.due_date <= cutoff)


def next_due_after_credit(rows: Sequence[_Owing], today: date, credit: int
                          ) -> tuple[date, int] | None:
    """The next due date and what is owed by then, once `credit` covers installments in order.

    Rows are installments (due order); with no credit this is `lending.loans.next_due`.
    """
    left, owing = credit, []
    for row in sorted(rows, key=lambda r: (r.due_date, r.number)):
        owed = row.outstanding
        take = min(left, owed)
        left -= take
        if owed - take > 0:
            owing.append((row.due_date, owed - take))
    if not owing:
        return None
    first = owing[0][0]
    cutoff = first if first > today else today  # not late: just the next installment
    return first, sum(owed for due, owed in owing if due <= cutoff)


def days_past_due(loan: Loan, today: date) -> int:
    """Days since the oldest installment with principal or interest unpaid fell due."""
    return days_late(loan.installments, today)


def days_late(rows: Sequence[_Late], today: date) -> int:
    """`days_past_due` over installment rows of any shape (ORM objects or plain columns)."""
    late = [row.due_date for row in rows if row.scheduled_due > 0 and row.due_date < today]
    return (today - min(late)).days if late else 0
