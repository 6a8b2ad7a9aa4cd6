"""Read-only views for the menus, SMS and API: loans by reference, balances, statements."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, case, select
from sqlalchemy.orm import Session, lazyload

import ledger
from core.db import AnySelect, DriverRead
from lending.errors import LendingError
from lending.loans import days_late, next_due_after_credit
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

_HEAD = (Loan.id, Loan.status, Loan.reference, Loan.currency)
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
    head = _current_loan_head(session, member_id)
    return head.reference if head is not None else None


@dataclass(frozen=True, slots=True)
class _LoanHead:
    """What a balance shows of a loan besides its schedule, read as plain columns."""

    id: int
    status: str
    reference: str
    currency: str

    @classmethod
    def of(cls, row: Any) -> _LoanHead:
        return cls(row.id, row.status, row.reference, row.currency)


def _current_loan_head(session: Session, member_id: int) -> _LoanHead | None:
    """`current_loan`'s id, status, reference and currency."""
    rows = session.execute(
        select(*_HEAD).where(Loan.borrower_id == member_id, Loan.status.in_(OPEN_STATUSES))
        .order_by(Loan.created_at.desc(), Loan.id.desc())
    ).all()
    ranked = sorted(rows, key=lambda row: _PRIORITY.index(row.status))
    return _LoanHead.of(ranked[0]) if ranked else None


def _latest_loan_head(session: Session, member_id: int) -> _LoanHead | None:
    row = session.execute(
        select(*_HEAD).where(Loan.borrower_id == member_id)
        .order_by(Loan.created_at.desc(), Loan.id.desc()).limit(1)
    ).first()
    return _LoanHead.of(row) if row is not None else None


def _priority_of(status: Any) -> Any:
    """`_PRIORITY`'s order in SQL (the loan a member most needs to hear about first)."""
    return case({name: rank for rank, name in enumerate(_PRIORITY)}, value=status)


@dataclass(frozen=True, slots=True)
class DialView:
    """What a USSD session opens with, read in one query: the member and the account she
    pays into (her current loan's reference, else her phone), plus whatever `extra`
    columns the caller asked for (`extra[name]`)."""

    id: int
    first_name: str
    language: str
    status: str
    pin_locked_until: datetime | None
    reminders_enabled: bool
    account: str
    extra: dict[str, Any]


_DIAL_COLUMNS = (Member.id, Member.first_name, Member.language, Member.status,
                 Member.pin_locked_until, Member.reminders_enabled, Member.phone)


def dial_statement(**extra: ColumnElement[Any]) -> AnySelect:
    """`member_at_dial`'s statement: build it once and keep it (building and keying a
    statement costs as much client CPU as running it). The phone is the parameter `phone`.

    `extra`: more columns correlated to `members` (another package's look-up about her,
    such as a survey waiting) that ride the same round trip; each comes back by name.
    """
    reference = (select(Loan.reference)
                 .where(Loan.borrower_id == Member.id, Loan.status.in_(OPEN_STATUSES))
                 .order_by(_priority_of(Loan.status), Loan.created_at.desc(), Loan.id.desc())
                 .limit(1).scalar_subquery())
    return (select(*_DIAL_COLUMNS, reference.label("loan_reference"),
                   *(column.label(name) for name, column in extra.items()))
            .where(Member.phone == bindparam("phone")))


def member_at_dial(session: Session, e164: str, read: DriverRead | None = None
                   ) -> DialView | None:
    """The member on this E.164 phone and the account to pay into, in one statement
    (`read`: a `dial_statement` with its extra columns, made a `DriverRead` and kept)."""
    row = (read or _plain_dial_read()).first(session, phone=e164)
    if row is None:
        return None
    known = set(_DIAL_COLUMN_NAMES)
    return DialView(row.id, row.first_name, row.language, row.status, row.pin_locked_until,
                    row.reminders_enabled, row.loan_reference or row.phone,
                    {name: value for name, value in row._asdict().items() if name not in known})


_DIAL_COLUMN_NAMES = (*(column.key for column in _DIAL_COLUMNS), "loan_reference")


@functools.cache
def _plain_dial_read() -> DriverRead:
    return DriverRead(dial_statement())


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
class _Due:
    """An installment's unpaid amounts as plain values: a balance builds no ORM objects."""

    number: int
    due_date: date
    scheduled_due: int
    outstanding: int


_SCHEDULED_DUE = (LoanInstallment.principal - LoanInstallment.principal_paid
                  + LoanInstallment.interest - LoanInstallment.interest_paid)
_PENALTY_DUE = LoanInstallment.penalty_charged - LoanInstallment.penalty_paid


def _current_loan_and_dues(session: Session, member_id: int
                           ) -> tuple[_LoanHead, list[_Due], int, int] | None:
    """`current_loan`'s head, its installments' dues, the credit held for the member (the
    ledger's balance) and her credit limit, in one query of plain columns (one round trip)."""
    rows = _loan_and_dues_read().all(
        session, member_id=member_id, credit_code=ledger.borrower_credit(member_id).code)
    if not rows:
        return None
    heads: dict[int, Any] = {}
    for row in rows:  # newest loan first, as `current_loan` ranks them
        heads.setdefault(row.id, row)
    chosen = min(heads.values(), key=lambda row: _PRIORITY.index(row.status))
    dues = [_Due(row.number, row.due_date, int(row.scheduled), int(row.scheduled + row.penalty))
            for row in rows if row.id == chosen.id and row.number is not None]
    return _LoanHead.of(chosen), dues, int(chosen.held or 0), int(chosen.credit_limit)


@functools.cache
def _loan_and_dues_read() -> DriverRead:
    """`_current_loan_and_dues`'s statement, built once (parameters: member_id, credit_code)
    and run on the driver's cursor: a balance is on every PIN path."""
    held = ledger.balance_column(bindparam("credit_code"))
    limit = select(Member.credit_limit).where(Member.id == Loan.borrower_id).scalar_subquery()
    return DriverRead(
        select(*_HEAD, LoanInstallment.number, LoanInstallment.due_date,
               _SCHEDULED_DUE.label("scheduled"), _PENALTY_DUE.label("penalty"),
               held.label("held"), limit.label("credit_limit"))
        .outerjoin(LoanInstallment, LoanInstallment.loan_id == Loan.id)
        .where(Loan.borrower_id == bindparam("member_id"), Loan.status.in_(OPEN_STATUSES))
        .order_by(Loan.created_at.desc(), Loan.id.desc(), LoanInstallment.due_date,
                  LoanInstallment.number))


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
    rows: Sequence[_Due] | Sequence[LoanInstallment] = ()
    head: Loan | _LoanHead | None
    held: int | None = None
    current = None
    if loan is None or loan.borrower_id != member_id:
        current = _current_loan_and_dues(session, member_id)
    if current is not None:
        head, rows, held, credit_limit = current  # her limit came with her loan's rows
    else:
        member = session.get(Member, member_id)
        if member is None:
            raise LendingError("unknown_member", f"no member {member_id}")
        credit_limit = member.credit_limit
        if loan is not None and loan.borrower_id == member_id:
            head, rows = loan, loan.installments
        else:
            head = _latest_loan_head(session, member_id)
    if head is None:
        return BalanceSummary("none", None, 0, None, 0, credit_limit, 0)
    if head.status not in REPAYABLE_STATUSES:
        return BalanceSummary(head.status, head.reference, 0, None, 0, credit_limit, 0,
                              head.currency)
    day = today()
    # Credit held for her (cents over a whole-shilling payment, or an overpayment) pays
    # her next installments in order, so what she still has to pay, and when, is net of it.
    if held is None:
        held = ledger.balance(session, ledger.borrower_credit(member_id))
    due = next_due_after_credit(rows, day, held)
    return BalanceSummary(
        status=head.status, reference=head.reference,
        outstanding=max(sum(row.outstanding for row in rows) - held, 0),
        next_due_date=due[0] if due else None,
        next_due_amount=due[1] if due else 0,
        credit_limit=credit_limit,
        days_past_due=days_late(rows, day), currency=head.currency,
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
