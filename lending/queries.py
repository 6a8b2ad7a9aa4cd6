"""Read-only views for the menus, SMS and API: loans by reference, balances, statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, lazyload

import ledger
from lending.errors import LendingError
from lending.loans import days_past_due, next_due_after_credit, outstanding_balance
from lending.localtime import local_date, today
from lending.models import (
    APPROVED,
    DEFAULTED,
    DISBURSING,
    FUNDED,
    FUNDRAISING,
    OPEN_STATUSES,
    PENDING_REVIEW,
    REPAYABLE_STATUSES,
    Loan,
    LoanInstallment,
    Member,
)

# the loan a member most needs to hear about comes first
_PRIORITY = (DEFAULTED, "active", DISBURSING, FUNDED, FUNDRAISING, APPROVED, PENDING_REVIEW)

STATEMENT_KINDS = {
    "loan_disbursement": "disbursement", "loan_repayment": "repayment",
    "loan_penalty": "penalty", "loan_funding": "funding", "loan_funding_refund": "refund",
    "loan_write_off": "write_off", "loan_recovery": "recovery",
}


def loan_by_reference(session: Session, ref: str, *, schedule: bool = True) -> Loan | None:
    """The loan with this reference however it was typed (case, spaces), or None.

    `schedule=False` leaves installments and fundings to load when first touched:
    matching a payment to its loan needs only the loan's id, and the repayment
    then reads the loan again under its lock.
    """
    cleaned = "".join((ref or "").split()).upper()
    if not cleaned:
        return None
    query = select(Loan).where(Loan.reference == cleaned)
    if not schedule:
        query = query.options(lazyload(Loan.installments), lazyload(Loan.fundings))
    return session.scalar(query)


def current_loan(session: Session, member_id: int, *, fundings: bool = True) -> Loan | None:
    """The member's open loan that matters most (overdue or active before pending).

    `fundings=False` leaves `loan.fundings` to load when first touched: what a borrower
    sees (balance, schedule, reference) never needs them, and loading them is a query.
    """
    loans = session.scalars(_loans(
        select(Loan).where(Loan.borrower_id == member_id, Loan.status.in_(OPEN_STATUSES))
        .order_by(Loan.created_at.desc(), Loan.id.desc()), fundings)
    ).all()
    ranked = sorted(loans, key=lambda loan: _PRIORITY.index(loan.status))
    return ranked[0] if ranked else None


def current_loan_reference(session: Session, member_id: int) -> str | None:
    """The reference of `current_loan`'s loan (the account to pay to), in one small query."""
    rows = session.execute(
        select(Loan.reference, Loan.status)
        .where(Loan.borrower_id == member_id, Loan.status.in_(OPEN_STATUSES))
        .order_by(Loan.created_at.desc(), Loan.id.desc())
    ).all()
    ranked = sorted(rows, key=lambda row: _PRIORITY.index(row.status))
    return ranked[0].reference if ranked else None


def member_phone(session: Session, member_id: int) -> str | None:
    return session.scalar(select(Member.phone).where(Member.id == member_id))


def latest_loan(session: Session, member_id: int, *, fundings: bool = True) -> Loan | None:
    """The member's most recent loan in any state."""
    return session.scalar(_loans(
        select(Loan).where(Loan.borrower_id == member_id)
        .order_by(Loan.created_at.desc(), Loan.id.desc()).limit(1), fundings)
    )


def _loans(query: Select[Loan], fundings: bool) -> Select[Loan]:
    return query if fundings else query.options(lazyload(Loan.fundings))


@dataclass(frozen=True, slots=True)
class BalanceSummary:
    """What a borrower sees on "My loan": status, balance, next installment, limit."""

    status: str  # a loan status, or "none"; arrears show as days_past_due > 0
    reference: str | None
    outstanding: int
    next_due_date: date | None
    next_due_amount: int
    credit_limit: int
    days_past_due: int
    currency: str = "KES"


def balance_summary(session: Session, member_id: int, loan: Loan | None = None) -> BalanceSummary:
    """The member's balance on their current (or else latest) loan.

    A caller that already holds the member's current loan passes it as `loan`.
    """
    member = session.get(Member, member_id)
    if member is None:
        raise LendingError("unknown_member", f"no member {member_id}")
    if loan is None or loan.borrower_id != member_id:
        loan = (current_loan(session, member_id, fundings=False)
                or latest_loan(session, member_id, fundings=False))
    if loan is None:
        return BalanceSummary("none", None, 0, None, 0, member.credit_limit, 0)
    day = today()
    repayable = loan.status in REPAYABLE_STATUSES
    # Credit held for her (cents over a whole-shilling payment, or an overpayment) pays
    # her next installments in order, so what she still has to pay, and when, is net of it.
    held = ledger.balance(session, ledger.borrower_credit(member_id)) if repayable else 0
    due = next_due_after_credit(loan.installments, day, held) if repayable else None
    return BalanceSummary(
        status=loan.status, reference=loan.reference,
        outstanding=max(outstanding_balance(loan) - held, 0) if repayable else 0,
        next_due_date=due[0] if due else None,
        next_due_amount=due[1] if due else 0,
        credit_limit=member.credit_limit,
        days_past_due=days_past_due(loan, day) if repayable else 0, currency=loan.currency,
    )


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One movement on a member's mini statement; `amount` is positive."""

    on: date
    kind: str
    amount: int
    reference: str
    description: str


def statement_lines(session: Session, member_id: int, limit: int = 5) -> list[StatementLine]:
    """The member's latest ledger movements, newest first."""
    return [
        StatementLine(
            on=local_date(entry.occurred_at), kind=STATEMENT_KINDS.get(entry.kind, entry.kind),
            amount=int(entry.meta.get("amount") or _moved(entry)),
            reference=str(entry.meta.get("loan_reference") or ""),
            description=entry.description,
        )
        for entry in ledger.entries_for_member(session, member_id, limit)
    ]


def _moved(entry: ledger.JournalEntry) -> int:
    return sum(p.amount for p in entry.postings if p.amount > 0)


@dataclass(frozen=True, slots=True)
class DueInstallment:
    """An unpaid installment falling due on a given day, for reminders."""

    installment_id: int
    member_id: int
    phone: str
    language: str
    amount_due: int
    currency: str
    due_date: date
    loan_reference: str
    reminder_offsets: tuple[int, ...]


def installments_due_on(session: Session, days: list[date]) -> list[DueInstallment]:
    """Unpaid installments due on any of `days`, for borrowers who want reminders."""
    rows = session.execute(
        select(LoanInstallment, Loan, Member)
        .join(Loan, Loan.id == LoanInstallment.loan_id)
        .join(Member, Member.id == Loan.borrower_id)
        .where(LoanInstallment.due_date.in_(days), Loan.status.in_(REPAYABLE_STATUSES))
        .where(Member.reminders_enabled.is_(True))
        .order_by(LoanInstallment.due_date, LoanInstallment.id)
    ).all()
    return [
        DueInstallment(row.id, member.id, member.phone, member.language, row.outstanding,
                       loan.currency, row.due_date, loan.reference,
                       tuple(loan.product.reminder_offsets))
        for row, loan, member in rows
        if row.outstanding > 0
    ]
