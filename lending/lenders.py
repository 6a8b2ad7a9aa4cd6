"""The lender's side: sign-up, browsing fundraising loans, funding, portfolio, statement, wallet.

Every function runs in the caller's transaction. Browsing lists loans in the
same order auto-lending fills them: closest to fully funded first, then oldest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

import ledger
from core.clock import utcnow
from ledger import Account, JournalEntry, Posting, lender_wallet
from lending import arrears, members, portfolio
from lending.autolend import AutolendAllocation
from lending.errors import LendingError
from lending.funding import fund_loan, shares_left
from lending.localtime import local_date, timezone_name, today
from lending.models import (
    ACTIVE,
    DEFAULTED,
    DISBURSING,
    FUNDED,
    FUNDRAISING,
    MEMBER_ACTIVE,
    RECOVERED,
    REPAID,
    WRITTEN_OFF,
    Loan,
    LoanFunding,
    Member,
)
from lending.stories import describe, stories_for
from payments import intents
from payments.models import CANCELLED, FAILED, WITHDRAWAL, PaymentIntent

GENDERS = ("f", "m", "x")


# --- sign-up -------------------------------------------------------------------------


def create_lender(
    session: Session, *, phone: str, first_name: str, pin: str, consent: bool,
    language: str = "en", national_id: str | None = None, last_name: str | None = None,
    gender: str | None = None, region: str | None = None, sector: str | None = None,
) -> Member:
    """Register a new member who lends (verified by the operator who creates them)."""
    member = members.register_member(
        session, phone=phone, first_name=first_name, national_id=national_id, pin=pin,
        language=language, consent=consent, last_name=last_name, gender=gender, region=region,
        sector=sector,
    )
    member.is_lender = True
    # The operator calling this has checked who the lender is: no field partner visit.
    member.status, member.verified_at, member.verified_by = MEMBER_ACTIVE, utcnow(), "operator"
    return member


def make_lender(session: Session, member_id: int) -> Member:
    """Let an existing member lend too (a borrower may also be a lender)."""
    return members.become_lender(session, member_id)


def get_lender(session: Session, lender_id: int) -> Member:
    """The member if they lend, else LendingError("unknown_lender")."""
    member = session.get(Member, lender_id)
    if member is None or not member.is_lender:
        raise LendingError("unknown_lender", f"no lender {lender_id}")
    return member


# --- browsing ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrowseFilter:
    """Optional narrowing of the fundraising list; None means any."""

    sector: str | None = None
    region: str | None = None
    gender: str | None = None
    min_amount: int | None = None
    max_amount: int | None = None


@dataclass(frozen=True, slots=True)
class LoanCard:
    """A fundraising loan as a lender sees it."""

    loan_id: int
    reference: str
    first_name: str
    gender: str | None
    sector: str | None
    region: str | None
    place: str | None
    amount: int
    funded_amount: int
    percent_funded: int
    term: int
    frequency: str
    share_unit: int
    shares_left: int
    currency: str
    deadline: datetime | None
    story: str

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["deadline"] = self.deadline.isoformat() if self.deadline else None
        data["remaining_amount"] = self.amount - self.funded_amount
        return data


def _fundraising() -> Select[Loan]:
    now = utcnow()
    return (
        select(Loan)
        .join(Member, Member.id == Loan.borrower_id)
        .where(Loan.status == FUNDRAISING, Loan.funded_amount < Loan.amount)
        .where((Loan.fundraising_deadline.is_(None)) | (Loan.fundraising_deadline > now))
    )


def _conditions(wanted: BrowseFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if wanted.sector:
        conditions.append(func.coalesce(Loan.sector, Member.sector) == wanted.sector)
    if wanted.region:
        conditions.append(Member.region == wanted.region)
    if wanted.gender:
        conditions.append(Member.gender == wanted.gender)
    if wanted.min_amount is not None:
        conditions.append(Loan.amount >= wanted.min_amount)
    if wanted.max_amount is not None:
        conditions.append(Loan.amount <= wanted.max_amount)
    return conditions


def browse_fundraising(
    session: Session, wanted: BrowseFilter | None = None, *, limit: int = 20, offset: int = 0
) -> tuple[list[LoanCard], int]:
    """A page of fundraising loans (closest to fully funded first) and how many there are."""
    query = _fundraising().where(*_conditions(wanted or BrowseFilter()))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    loans = list(session.scalars(
        query.order_by(Loan.amount - Loan.funded_amount, Loan.id).limit(limit).offset(offset)
    ))
    stories = stories_for(session, [loan.id for loan in loans])
    return [to_card(loan, stories.get(loan.id)) for loan in loans], int(total)


def loan_card(session: Session, loan_id: int) -> LoanCard:
    """One loan as a lender sees it (any status), or LendingError("unknown_loan")."""
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise LendingError("unknown_loan", f"no loan {loan_id}")
    return to_card(loan, stories_for(session, [loan_id]).get(loan_id))


def to_card(loan: Loan, story: str | None) -> LoanCard:
    borrower = loan.borrower
    return LoanCard(
        loan_id=loan.id, reference=loan.reference, first_name=borrower.first_name,
        gender=borrower.gender, sector=loan.sector or borrower.sector, region=borrower.region,
        place=borrower.place, amount=loan.amount, funded_amount=loan.funded_amount,
        percent_funded=loan.funded_amount * 100 // loan.amount if loan.amount else 0,
        term=loan.term, frequency=loan.product.frequency, share_unit=loan.product.share_unit,
        shares_left=shares_left(loan) if loan.status == FUNDRAISING else 0,
        currency=loan.currency, deadline=loan.fundraising_deadline,
        story=describe(loan, story),
    )


# --- funding ---------------------------------------------------------------------------


def fund(
    session: Session, *, lender_id: int, loan_id: int, shares: int, idempotency_key: str
) -> LoanFunding:
    """Fund shares of a loan from the lender's wallet (a thin guard over fund_loan)."""
    get_lender(session, lender_id)
    if session.get(Loan, loan_id) is None:
        raise LendingError("unknown_loan", f"no loan {loan_id}", field="loan_id")
    return fund_loan(session, loan_id=loan_id, lender_id=lender_id, shares=shares,
                     idempotency_key=idempotency_key)


def wallet_balance(session: Session, lender_id: int) -> int:
    """Money in the lender's wallet, free to lend or withdraw."""
    return ledger.balance(session, lender_wallet(lender_id))


# --- wallet: deposits and withdrawals ------------------------------------------------------

MIN_TRANSFER = 1_000  # KES 10: M-Pesa's smallest B2C payment
MAX_DEPOSIT = 15_000_000  # KES 150,000: one M-Pesa transaction
DAILY_WITHDRAWAL_LIMIT = 7_000_000  # KES 70,000 per lender per local day
"""Withdrawals requested today (Africa/Nairobi), failed and cancelled ones excepted."""


def deposit(
    session: Session, *, lender_id: int, phone: str, amount: int, idempotency_key: str
) -> PaymentIntent:
    """Ask M-Pesa to prompt the lender's phone to top up the wallet (STK push via the outbox)."""
    get_lender(session, lender_id)
    _check_amount(amount, MAX_DEPOSIT)
    return _payment(intents.request_deposit, session, member_id=lender_id, phone=phone,
                    amount=amount, idempotency_key=idempotency_key)


def withdraw(
    session: Session, *, lender_id: int, phone: str, amount: int, idempotency_key: str
) -> PaymentIntent:
    """Pay wallet money out to M-Pesa (B2C), within the daily limit."""
    get_lender(session, lender_id)
    _check_amount(amount, DAILY_WITHDRAWAL_LIMIT)
    # The wallet's row lock serialises this lender's withdrawals: two at once cannot
    # both fit under the daily limit.
    ledger.lock_account(session, lender_wallet(lender_id))
    if _same_key_exists(session, idempotency_key):
        return _payment(intents.request_withdrawal, session, member_id=lender_id, phone=phone,
                        amount=amount, idempotency_key=idempotency_key)
    if withdrawn_today(session, lender_id) + amount > DAILY_WITHDRAWAL_LIMIT:
        raise LendingError("daily_limit", "above today's withdrawal limit", field="amount")
    try:
        return _payment(intents.request_withdrawal, session, member_id=lender_id, phone=phone,
                        amount=amount, idempotency_key=idempotency_key)
    except ledger.InsufficientFunds:
        raise LendingError("insufficient_funds", "the wallet does not hold enough",
                           field="amount") from None


def withdrawn_today(session: Session, lender_id: int) -> int:
    """What the lender has asked to withdraw since local midnight (failures excepted)."""
    zone = ZoneInfo(timezone_name())
    midnight = datetime.combine(today(), time(0), zone)
    total = session.scalar(
        select(func.coalesce(func.sum(PaymentIntent.amount), 0)).where(
            PaymentIntent.kind == WITHDRAWAL, PaymentIntent.member_id == lender_id,
            PaymentIntent.created_at >= midnight,
            PaymentIntent.status.not_in((FAILED, CANCELLED)))
    )
    return int(total or 0)


def _check_amount(amount: int, maximum: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise LendingError("invalid_amount", "an amount in whole minor units", field="amount")
    if not MIN_TRANSFER <= amount <= maximum or amount % 100:
        raise LendingError("invalid_amount", "whole shillings from KES 10 up to the limit",
                           field="amount")


def _same_key_exists(session: Session, key: str) -> bool:
    return session.scalar(
        select(PaymentIntent.id).where(PaymentIntent.idempotency_key == key)) is not None


def _payment(request: Any, session: Session, **kwargs: Any) -> PaymentIntent:
    """Call a payments intent function; its refusals become lending refusals for the edges."""
    try:
        intent: PaymentIntent = request(session, **kwargs)
    except intents.PaymentError as exc:
        field = "phone" if exc.code == "invalid_phone" else "amount"
        raise LendingError(exc.code, str(exc), field=field) from None
    return intent


# --- portfolio -------------------------------------------------------------------------

RAISING, IN_ARREARS, LOST, REFUNDED = "raising", "in_arrears", "lost", "refunded"
STAKE_STATES = (RAISING, ACTIVE, IN_ARREARS, REPAID, LOST, REFUNDED)


@dataclass(frozen=True, slots=True)
class Stake:
    """One of the lender's fundings and how it stands."""

    funding_id: int
    loan_id: int
    reference: str
    first_name: str
    state: str  # one of STAKE_STATES
    amount: int
    principal_repaid: int
    interest_earned: int
    principal_lost: int
    recovered: int
    outstanding: int

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class Portfolio:
    """A lender's totals (minor units) and stakes counted by state."""

    lender_id: int
    wallet: int
    lent: int
    principal_repaid: int
    interest_earned: int
    recovered: int
    outstanding: int
    lost: int
    counts: dict[str, int]
    stakes: list[Stake] = field(default_factory=list)

    @property
    def repayments_received(self) -> int:
        """Everything loans have paid back to this lender: principal, interest, recoveries."""
        return self.principal_repaid + self.interest_earned + self.recovered

    def to_json(self) -> dict[str, Any]:
        return {
            "lender_id": self.lender_id, "wallet": self.wallet, "lent": self.lent,
            "principal_repaid": self.principal_repaid, "interest_earned": self.interest_earned,
            "recovered": self.recovered, "repayments_received": self.repayments_received,
            "outstanding": self.outstanding, "lost": self.lost, "counts": self.counts,
            "stakes": [stake.to_json() for stake in self.stakes],
        }


def _state(funding: LoanFunding, on: date) -> str:
    loan = funding.loan
    if funding.refunded_at is not None:
        return REFUNDED
    if loan.status in (FUNDRAISING, FUNDED, DISBURSING):
        return RAISING
    if loan.status in (WRITTEN_OFF, RECOVERED) or funding.principal_lost > 0:
        return LOST
    if loan.status == REPAID:
        return REPAID
    if loan.status == DEFAULTED or arrears.in_arrears(loan, on):
        return IN_ARREARS
    return ACTIVE


def lender_portfolio(session: Session, lender_id: int) -> Portfolio:
    """The lender's book (lending.portfolio's totals) with every stake and its state."""
    get_lender(session, lender_id)
    fundings = session.scalars(
        select(LoanFunding).where(LoanFunding.lender_id == lender_id).order_by(LoanFunding.id)
    ).all()
    on = today()
    stakes = [_stake(f, _state(f, on)) for f in fundings]
    counts = Counter(s.state for s in stakes)
    book = portfolio.lender_portfolio(session, lender_id)
    return Portfolio(
        lender_id=lender_id, wallet=wallet_balance(session, lender_id), lent=book.lent,
        principal_repaid=book.repaid, interest_earned=book.interest_earned,
        recovered=book.recovered, outstanding=book.outstanding, lost=book.lost,
        counts={state: counts.get(state, 0) for state in STAKE_STATES}, stakes=stakes,
    )


def _stake(funding: LoanFunding, state: str) -> Stake:
    loan = funding.loan
    return Stake(
        funding_id=funding.id, loan_id=loan.id, reference=loan.reference,
        first_name=loan.borrower.first_name, state=state, amount=funding.amount,
        principal_repaid=funding.principal_repaid, interest_earned=funding.interest_earned,
        principal_lost=funding.principal_lost, recovered=funding.recovered,
        outstanding=funding.principal_outstanding,
    )


# --- statement -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One movement of the lender's wallet: positive in, negative out."""

    entry_id: int
    on: date
    at: datetime
    kind: str
    description: str
    amount: int
    balance_after: int
    loan_id: int | None
    reason: str | None = None  # why auto-lending made this funding

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["on"], data["at"] = self.on.isoformat(), self.at.isoformat()
        return data


def statement(
    session: Session, lender_id: int, *, limit: int = 20, offset: int = 0
) -> tuple[list[StatementLine], int]:
    """The wallet's movements from its ledger postings, newest first, with running balances."""
    get_lender(session, lender_id)
    account_id = session.scalar(
        select(Account.id).where(Account.code == lender_wallet(lender_id).code))
    if account_id is None:
        return [], 0
    # A wallet is a liability: a credit (negative posting) is money in for the lender.
    running = func.sum(-Posting.amount).over(order_by=Posting.id).label("balance_after")
    rows = (
        select(Posting.id.label("posting_id"), Posting.entry_id, (-Posting.amount).label("amount"),
               running)
        .where(Posting.account_id == account_id)
        .subquery()
    )
    total = session.scalar(select(func.count()).select_from(rows)) or 0
    page = session.execute(
        select(rows, JournalEntry)
        .join(JournalEntry, JournalEntry.id == rows.c.entry_id)
        .order_by(rows.c.posting_id.desc()).limit(limit).offset(offset)
    ).all()
    reasons = _autolend_reasons(session, [row.JournalEntry.key for row in page])
    lines = [_line(row, reasons) for row in page]
    return lines, int(total)


def _line(row: Any, reasons: dict[str, str]) -> StatementLine:
    entry: JournalEntry = row.JournalEntry
    return StatementLine(
        entry_id=entry.id, on=local_date(entry.occurred_at), at=entry.occurred_at,
        kind=entry.kind, description=entry.description, amount=int(row.amount),
        balance_after=int(row.balance_after), loan_id=entry.loan_id,
        reason=reasons.get(entry.key),
    )


def _autolend_reasons(session: Session, entry_keys: list[str]) -> dict[str, str]:
    """Auto-lend reasons by the journal key of the funding they made."""
    funding_keys = [key.removeprefix("funding:") for key in entry_keys
                    if key.startswith("funding:")]
    if not funding_keys:
        return {}
    rows = session.execute(
        select(LoanFunding.key, AutolendAllocation.reason)
        .join(AutolendAllocation, AutolendAllocation.funding_id == LoanFunding.id)
        .where(LoanFunding.key.in_(funding_keys))
    )
    return {f"funding:{key}": reason for key, reason in rows}
