"""Repayments: allocate a payment over the schedule and pass it through to the lenders.

Allocation order: installments past due (oldest first), then the current one, each
taking penalty -> fees -> interest -> principal. What is left prepays the future
installments in due order when the product says "prepay" or when it settles the
whole loan; otherwise (and beyond the whole loan) it is held as the borrower's
credit, which `apply_credit_balances` spends as installments fall due.

One journal entry per repayment (key `repayment:{key}`):
  Dr from_account amount
  Cr loan_penalties p            Cr INTEREST_INCOME the platform's share of interest
  Cr lender_wallet(each) their interest + principal
  Dr loan_participation principal / Cr loan_principal principal
  Cr borrower_credit overpayment
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import JSON, Table, bindparam, insert, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

import ledger
from core.clock import as_utc, utcnow
from core.db import UTCDateTime, attach_inserted
from ledger import (
    FEE_INCOME,
    INTEREST_INCOME,
    MOBILE_MONEY_FLOAT,
    WALLET_CODE,
    AccountSpec,
    borrower_credit,
    credit,
    debit,
    lender_wallet,
    loan_participation,
    loan_penalties,
    loan_principal,
)
from lending import notifications
from lending.distribution import Distribution, distribute
from lending.errors import LendingError
from lending.lifecycle import lock_loan, transition
from lending.loans import days_past_due, next_due_after_credit, outstanding_balance
from lending.localtime import local_date
from lending.models import (
    ACTIVE,
    DEFAULTED,
    EACH,
    REPAID,
    REPAYABLE_STATUSES,
    LenderCredit,
    Loan,
    LoanFunding,
    LoanInstallment,
    Member,
    Product,
    Repayment,
)
from lending.protection import on_loan_repaid
from messaging.reminders import cancel_reminders

SOURCES = ("stk", "c2b", "manual", "suspense", "credit", "insurance")
"""`insurance`: an accepted credit-life claim settling the loan from the insurance pool."""
BUCKETS = ("penalty", "fee", "interest", "principal")


# --- allocation (pure) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Owed:
    """What is still owed on one installment, by bucket."""

    number: int
    due_date: date
    penalty: int = 0
    fee: int = 0
    interest: int = 0
    principal: int = 0

    @property
    def total(self) -> int:
        return self.penalty + self.fee + self.interest + self.principal


@dataclass(frozen=True, slots=True)
class AllocationLine:
    """What one payment paid on one installment, by bucket."""

    number: int
    penalty: int
    fee: int
    interest: int
    principal: int


@dataclass(frozen=True, slots=True)
class Allocation:
    """How a payment was applied; `overpayment` is what no installment took."""

    lines: tuple[AllocationLine, ...]
    overpayment: int

    @property
    def penalty(self) -> int:
        return sum(line.penalty for line in self.lines)

    @property
    def fees(self) -> int:
        return sum(line.fee for line in self.lines)

    @property
    def interest(self) -> int:
        return sum(line.interest for line in self.lines)

    @property
    def principal(self) -> int:
        return sum(line.principal for line in self.lines)

    def to_json(self) -> dict[str, Any]:
        return {"lines": [[ln.number, ln.penalty, ln.fee, ln.interest, ln.principal]
                          for ln in self.lines], "overpayment": self.overpayment}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Allocation:
        return cls(tuple(AllocationLine(*row) for row in data["lines"]), data["overpayment"])


def allocate_payment(
    owed: Sequence[Owed], amount: int, today: date, *, prepay: bool
) -> Allocation:
    """Apply `amount`: past due oldest first, then current, then (maybe) future."""
    rows = sorted((o for o in owed if o.total > 0), key=lambda o: (o.due_date, o.number))
    late = [o for o in rows if o.due_date < today]
    rest = [o for o in rows if o.due_date >= today]
    order = late + rest[:1]
    if prepay or amount >= sum(o.total for o in rows):
        order += rest[1:]
    left, lines = amount, []
    for row in order:
        parts = []
        for bucket in BUCKETS:
            take = min(left, getattr(row, bucket))
            parts.append(take)
            left -= take
        if any(parts):
            lines.append(AllocationLine(row.number, *parts))
    return Allocation(tuple(lines), left)


def owed_on(loan: Loan) -> list[Owed]:
    """The loan's unpaid installments as plain values (no fees are receivable today)."""
    return [
        Owed(row.number, row.due_date, row.penalty_due, 0, row.interest_due, row.principal_due)
        for row in loan.installments
        if row.outstanding > 0
    ]


# --- recording -------------------------------------------------------------------------


@dataclass(frozen=True)
class RepaymentResult:
    """A recorded repayment and where the loan stands after it."""

    repayment: Repayment
    allocation: Allocation
    remaining_balance: int
    next_due: tuple[date, int] | None
    repaid: bool
    overpayment: int


def record_repayment(
    session: Session, *, loan_id: int, amount: int, key: str, source: str,
    receipt: str | None = None, received_at: datetime | None = None,
    from_account: AccountSpec = MOBILE_MONEY_FLOAT,
) -> RepaymentResult:
    """Apply a payment to a loan exactly once per key, and pay its lenders their share.

    Credit the borrower already holds is spent with the payment on what is due now
    and the current installment, so the next due she is told is the real next one.
    A refusal (`LendingError`) is raised before anything is written, so a caller may
    apply it without a savepoint; one met after writing began is `RepaymentAborted`
    (the caller's transaction must roll back). The hot path
    reads and writes plain rows (no ORM objects); `docs/payments.md` lists its
    statements.
    """
    _check_input(amount, key, source)
    session.flush()  # Core statements below must see what the caller changed
    loan = _lock(session, loan_id)
    if loan.status not in REPAYABLE_STATUSES:
        existing = _by_key(session, key)
        if existing is not None:
            return _replay(existing, loan_id, amount)
        raise LendingError("not_repayable", f"loan {loan.reference} is {loan.status}")
    at = as_utc(received_at or utcnow())
    day = local_date(at)
    rows, stakes, known = _read_under_lock(session, loan, from_account)
    credit_account = borrower_credit(loan.borrower_id)
    spending_credit = from_account.code == credit_account.code  # the daily job's repayments
    held_now = (known[credit_account.code].normal_balance
                if credit_account.code in known else 0)
    held = 0 if spending_credit else held_now
    allocation = allocate_payment(_owed(rows), amount + held, day,
                                  prepay=loan.overpayment == "prepay")
    credit_moved = allocation.overpayment - held  # < 0: held credit spent with this payment
    kept = Allocation(allocation.lines, max(credit_moved, 0))
    split = distribute(stakes, allocation.interest, allocation.principal, loan.platform_share)
    posted = _post(session, loan, key, amount, kept, credit_moved, split, from_account, receipt,
                   source, at, known)
    if posted.entry_id is None:  # this key was applied before (a repeated callback)
        existing = _by_key(session, key)
        if existing is None:
            raise LendingError("key_conflict", "this key was used for another payment")
        return _replay(existing, loan_id, amount)
    with _refusals_abort():  # written from here on: no refusal may leave half of it
        changed, paid_off = _pay_installments(rows, allocation, at)
        credited = _pay_stakes(stakes, split)
        balance = sum(row.outstanding for row in rows)
        held_after = posted.balances.get(credit_account.code, held_now)
        due = next_due_after_credit(rows, day, 0)
        repaid = balance == 0
        lenders = [notifications.LenderNews(
            lender_id=stake.lender_id, phone=stake.phone, language=stake.language,
            each=stake.repayment_sms == EACH, amount=share,
            balance_after=posted.balances.get(lender_wallet(stake.lender_id).code, 0))
            for stake, share in _lender_shares(stakes, split)]
        repayment = _write(session, changed, credited, lenders, dict(
            loan_id=loan.id, member_id=loan.borrower_id, kind="repayment", amount=amount, key=key,
            source=source, receipt=receipt, penalty=kept.penalty, fees=kept.fees,
            interest=kept.interest, principal=kept.principal, overpayment=kept.overpayment,
            platform_interest=split.platform_interest, balance_after=balance,
            journal_entry_id=posted.entry_id, received_at=at, created_at=utcnow(),
            detail=_detail(kept, split, due, repaid, max(-credit_moved, 0))), loan.reference,
            loan.currency)
        if repaid or loan.status == DEFAULTED:
            _after_payment(session, lock_loan(session, loan.id), day)
        cancel_reminders(session, *paid_off)  # no reminder may chase these now
        notifications.repayment_messages(session, notifications.RepaymentNews(
            repayment_id=repayment.id, loan_id=loan.id, borrower_id=loan.borrower_id,
            reference=loan.reference, currency=loan.currency, borrower_phone=loan.phone,
            borrower_language=loan.language, borrower_first_name=loan.first_name, amount=amount,
            overpayment=kept.overpayment, repaid=repaid, balance=max(balance - held_after, 0),
            next_due=next_due_after_credit(rows, day, held_after), at=at, source=source), lenders)
        return RepaymentResult(repayment, kept, balance, due, repaid, kept.overpayment)


class RepaymentAborted(RuntimeError):
    """A refusal met after the repayment began writing (a bug, not a decision about the
    money): the caller's transaction must roll back, not carry on as if it were refused."""


@contextmanager
def _refusals_abort() -> Iterator[None]:
    # Callers apply a refusal (the money to suspense) in the same transaction without a
    # savepoint, which is safe only while a refusal means that nothing was written.
    try:
        yield
    except LendingError as exc:
        raise RepaymentAborted(f"{exc.code} after the repayment began writing: "
                               f"{exc.message}") from exc


def _check_input(amount: int, key: str, source: str) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise LendingError("invalid_amount", "a positive amount in minor units", field="amount")
    if not key or len(key) > 120:
        raise LendingError("invalid_key", "a key of 1-120 characters is required", field="key")
    if source not in SOURCES:
        raise LendingError("invalid_source", f"one of {', '.join(SOURCES)}", field="source")


def _by_key(session: Session, key: str) -> Repayment | None:
    return session.scalar(select(Repayment).where(Repayment.key == key))


def _replay(repayment: Repayment, loan_id: int, amount: int) -> RepaymentResult:
    """The same key again: the first result, with nothing posted twice."""
    if (repayment.loan_id, repayment.amount, repayment.kind) != (loan_id, amount, "repayment"):
        raise LendingError("key_conflict", "this key was used for another payment")
    due = repayment.detail.get("next_due")
    return RepaymentResult(
        repayment=repayment, allocation=Allocation.from_json(repayment.detail["allocation"]),
        remaining_balance=repayment.balance_after,
        next_due=(date.fromisoformat(due[0]), due[1]) if due else None,
        repaid=bool(repayment.detail.get("repaid")), overpayment=repayment.overpayment,
    )


# --- the loan as plain rows ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Loan:
    id: int
    reference: str
    borrower_id: int
    status: str
    currency: str
    overpayment: str
    share_percent: str
    phone: str
    language: str
    first_name: str

    @property
    def platform_share(self) -> Decimal:
        return Decimal(self.share_percent)


@dataclass(slots=True)
class _Row:
    """An installment as plain values (the fields `LoanInstallment` derives from)."""

    id: int
    number: int
    due_date: date
    principal: int
    interest: int
    principal_paid: int
    interest_paid: int
    penalty_charged: int
    penalty_paid: int
    paid_at: datetime | None

    @property
    def scheduled_due(self) -> int:
        return self.principal - self.principal_paid + self.interest - self.interest_paid

    @property
    def outstanding(self) -> int:
        return self.scheduled_due + self.penalty_charged - self.penalty_paid


@dataclass(slots=True)
class _Stake:
    """A stake as plain values, with its lender's phone, language and SMS choice."""

    id: int
    lender_id: int
    amount: int
    principal_repaid: int
    interest_earned: int
    principal_lost: int
    refunded_at: datetime | None
    phone: str
    language: str
    repayment_sms: str

    @property
    def principal_outstanding(self) -> int:
        if self.refunded_at is not None:
            return 0
        return self.amount - self.principal_repaid - self.principal_lost


_INSTALLMENT_COLUMNS = (
    LoanInstallment.id, LoanInstallment.number, LoanInstallment.due_date,
    LoanInstallment.principal, LoanInstallment.interest, LoanInstallment.principal_paid,
    LoanInstallment.interest_paid, LoanInstallment.penalty_charged,
    LoanInstallment.penalty_paid, LoanInstallment.paid_at,
)
_STAKE_COLUMNS = (
    LoanFunding.id, LoanFunding.lender_id, LoanFunding.amount, LoanFunding.principal_repaid,
    LoanFunding.interest_earned, LoanFunding.principal_lost, LoanFunding.refunded_at,
    Member.phone, Member.language, Member.repayment_sms,
)


_LOCK = (
    select(Loan.id, Loan.reference, Loan.borrower_id, Loan.status, Loan.currency,
           Product.overpayment, Product.platform_interest_share_percent, Member.phone,
           Member.language, Member.first_name)
    .join(Product, Product.id == Loan.product_id)
    .join(Member, Member.id == Loan.borrower_id)
    .where(Loan.id == bindparam("loan_id"))
    # OF loans: not the product row all its loans share, nor the borrower's (SQLAlchemy
    # leaves the clause out on SQLite)
    .with_for_update(of=Loan))
_INSTALLMENTS = (select(*_INSTALLMENT_COLUMNS)
                 .where(LoanInstallment.loan_id == bindparam("loan_id"))
                 .order_by(LoanInstallment.number))
_STAKES = (select(*_STAKE_COLUMNS).join(Member, Member.id == LoanFunding.lender_id)
           .where(LoanFunding.loan_id == bindparam("loan_id")).order_by(LoanFunding.id))
# Statements are built once at import: building one costs more CPU than running it.


def _lock(session: Session, loan_id: int) -> _Loan:
    """The loan row, locked for the rest of the transaction, with what a repayment reads."""
    row = session.connection().execute(_LOCK, {"loan_id": loan_id}).first()
    if row is None:
        raise LendingError("unknown_loan", f"no loan {loan_id}")
    return _Loan(*tuple(row))


def _read_under_lock(session: Session, loan: _Loan, from_account: AccountSpec
                     ) -> tuple[list[_Row], list[_Stake], dict[str, ledger.AccountRow]]:
    """The loan's installments, its stakes (with each lender's phone, language and SMS
    choice) and the ledger accounts the repayment posts to that exist (post_entry makes
    the others). Read after the lock, so no concurrent repayment's changes are missed."""
    if session.get_bind().dialect.name != "postgresql":
        stakes = _stakes(session, loan.id)
        known = ledger.accounts(session, _specs(loan, stakes, from_account), loan.currency,
                                create=False)
        return _installments(session, loan.id), stakes, known
    installments, stakes, accounts = session.connection().execute(_READS, {
        "loan_id": loan.id, "codes": [spec.code for spec in _specs(loan, (), from_account)],
        "wallet_prefix": WALLET_CODE[0], "wallet_suffix": WALLET_CODE[1]}).one()
    return ([_row_from_json(values) for values in installments or ()],
            [_stake_from_json(values) for values in stakes or ()],
            {values[1]: ledger.AccountRow(*values) for values in accounts or ()})


# PostgreSQL: the three reads in one round trip, each as a JSON array of rows (json_agg).
# Lending reads the ledger's accounts here (read only) for the codes it posts to and its
# lenders' wallets, whose codes are built from the stakes as `lender_wallet` builds them.
_READS = text("""
SELECT
    (SELECT json_agg(json_build_array(i.id, i.number, i.due_date, i.principal, i.interest,
                                      i.principal_paid, i.interest_paid, i.penalty_charged,
                                      i.penalty_paid, i.paid_at) ORDER BY i.number)
     FROM loan_installments i WHERE i.loan_id = :loan_id),
    (SELECT json_agg(json_build_array(f.id, f.lender_id, f.amount, f.principal_repaid,
                                      f.interest_earned, f.principal_lost, f.refunded_at,
                                      m.phone, m.language, m.repayment_sms) ORDER BY f.id)
     FROM loan_fundings f JOIN members m ON m.id = f.lender_id WHERE f.loan_id = :loan_id),
    (SELECT json_agg(json_build_array(a.id, a.code, a.kind, a.currency, a.no_overdraft,
                                      a.balance))
     FROM (SELECT id, code, kind, currency, no_overdraft, balance FROM ledger_accounts
           WHERE code = ANY(CAST(:codes AS TEXT[]))
           UNION ALL  -- two index lookups; an OR of both made PostgreSQL scan every account
           SELECT w.id, w.code, w.kind, w.currency, w.no_overdraft, w.balance
           FROM loan_fundings f
           JOIN ledger_accounts w ON w.code = :wallet_prefix || f.lender_id || :wallet_suffix
           WHERE f.loan_id = :loan_id) AS a)
""")


def _timestamp(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def _row_from_json(values: list[Any]) -> _Row:
    row_id, number, due, principal, interest, principal_paid, interest_paid, \
        penalty_charged, penalty_paid, paid_at = values
    return _Row(row_id, number, date.fromisoformat(due), principal, interest, principal_paid,
                interest_paid, penalty_charged, penalty_paid, _timestamp(paid_at))


def _stake_from_json(values: list[Any]) -> _Stake:
    stake_id, lender_id, amount, principal_repaid, interest_earned, principal_lost, \
        refunded_at, phone, language, repayment_sms = values
    return _Stake(stake_id, lender_id, amount, principal_repaid, interest_earned,
                  principal_lost, _timestamp(refunded_at), phone, language, repayment_sms)


def _installments(session: Session, loan_id: int) -> list[_Row]:
    return [_Row(*tuple(row))
            for row in session.connection().execute(_INSTALLMENTS, {"loan_id": loan_id})]


def _stakes(session: Session, loan_id: int) -> list[_Stake]:
    return [_Stake(*tuple(row))
            for row in session.connection().execute(_STAKES, {"loan_id": loan_id})]


def _owed(rows: Sequence[_Row]) -> list[Owed]:
    return [Owed(row.number, row.due_date, row.penalty_charged - row.penalty_paid, 0,
                 row.interest - row.interest_paid, row.principal - row.principal_paid)
            for row in rows if row.outstanding > 0]


def _specs(loan: _Loan, stakes: Sequence[_Stake], from_account: AccountSpec
           ) -> list[AccountSpec]:
    return [from_account, loan_penalties(loan.id), FEE_INCOME, INTEREST_INCOME,
            *(lender_wallet(stake.lender_id) for stake in stakes),
            loan_participation(loan.id), loan_principal(loan.id),
            borrower_credit(loan.borrower_id)]


def _post(
    session: Session, loan: _Loan, key: str, amount: int, allocation: Allocation,
    credit_moved: int, split: Distribution, from_account: AccountSpec, receipt: str | None,
    source: str, at: datetime, known: dict[str, ledger.AccountRow],
) -> ledger.Posted:
    """The one journal entry that traces this payment to every lender's wallet."""
    legs = [
        debit(from_account, amount),
        credit(loan_penalties(loan.id), allocation.penalty),
        credit(FEE_INCOME, allocation.fees),
        credit(INTEREST_INCOME, split.platform_interest),
        *(credit(lender_wallet(lender), total) for lender, total in split.per_lender().items()),
        debit(loan_participation(loan.id), allocation.principal),
        credit(loan_principal(loan.id), allocation.principal),
        # positive: kept as her credit; negative: credit she held, spent now
        credit(borrower_credit(loan.borrower_id), credit_moved),
    ]
    meta = {
        "receipt": receipt, "source": source, "amount": amount,
        "loan_reference": loan.reference, "allocation": allocation.to_json(),
        "platform_interest": split.platform_interest,
        "lenders": [share.to_json() for share in split.shares],
    }
    if credit_moved < 0:
        meta["credit_used"] = -credit_moved
    return ledger.post_entry(
        session, f"repayment:{key}", "loan_repayment", legs, currency=loan.currency,
        loan_id=loan.id, member_id=loan.borrower_id, occurred_at=at, meta=meta,
        description=f"Repayment of loan {loan.reference}", known=known,
    )


def _pay_installments(rows: Sequence[_Row], allocation: Allocation, at: datetime
                      ) -> tuple[list[_Row], list[int]]:
    """Put on each installment what the payment covered; returns those changed, and the ids
    of those it paid off."""
    by_number = {row.number: row for row in rows}
    changed, paid_off = [], []
    for line in allocation.lines:
        row = by_number[line.number]
        row.penalty_paid += line.penalty
        row.interest_paid += line.interest
        row.principal_paid += line.principal
        if row.scheduled_due == 0 and row.paid_at is None:
            row.paid_at = at
            paid_off.append(row.id)
        changed.append(row)
    return changed, paid_off


def _pay_stakes(stakes: Sequence[_Stake], split: Distribution) -> list[_Stake]:
    """Put on each stake what it was paid; returns those changed."""
    by_id = {stake.id: stake for stake in stakes}
    changed = []
    for share in split.shares:
        if share.interest or share.principal:
            stake = by_id[share.funding_id]
            stake.interest_earned += share.interest
            stake.principal_repaid += share.principal
            changed.append(stake)
    return changed


def _detail(allocation: Allocation, split: Distribution, due: tuple[date, int] | None,
            repaid: bool, credit_used: int) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "allocation": allocation.to_json(), "repaid": repaid,
        "next_due": [due[0].isoformat(), due[1]] if due else None,
        "lenders": [share.to_json() for share in split.shares]}
    if credit_used:
        detail["credit_used"] = credit_used
    return detail


def _write(session: Session, installments: Sequence[_Row], stakes: Sequence[_Stake],
           lenders: Sequence[notifications.LenderNews], values: dict[str, Any],
           reference: str, currency: str) -> Repayment:
    """The installments, stakes, repayment row and lenders' credits: one statement on
    PostgreSQL, a few elsewhere. Objects of these rows already in the session are expired."""
    now = utcnow()
    credits = [dict(lender_id=lender.lender_id, loan_reference=reference, amount=lender.amount,
                    balance_after=lender.balance_after, currency=currency,
                    received_at=values["received_at"], notified_at=now if lender.each else None)
               for lender in lenders]
    conn = session.connection()
    if session.get_bind().dialect.name == "postgresql":
        new_id = conn.execute(_WRITE, {
            **values,
            "row_ids": [r.id for r in installments],
            "penalty_paid": [r.penalty_paid for r in installments],
            "interest_paid": [r.interest_paid for r in installments],
            "principal_paid": [r.principal_paid for r in installments],
            "paid_at": [r.paid_at for r in installments],
            "stake_ids": [s.id for s in stakes],
            "interest_earned": [s.interest_earned for s in stakes],
            "principal_repaid": [s.principal_repaid for s in stakes],
            "lender_ids": [c["lender_id"] for c in credits],
            "shares": [c["amount"] for c in credits],
            "balances": [c["balance_after"] for c in credits],
            "notified": [c["notified_at"] for c in credits],
            "currency": currency, "reference": reference,
        }).scalar_one()
    else:
        if installments:
            conn.execute(_PAY_INSTALLMENT, [
                {"row_id": r.id, "penalty_paid": r.penalty_paid, "interest_paid": r.interest_paid,
                 "principal_paid": r.principal_paid, "paid_at": r.paid_at}
                for r in installments])
        if stakes:
            conn.execute(_CREDIT_STAKE, [
                {"stake_id": s.id, "interest_earned": s.interest_earned,
                 "principal_repaid": s.principal_repaid} for s in stakes])
        new_id = conn.execute(insert(_REPAYMENTS).returning(_REPAYMENTS.c.id), values
                              ).scalar_one()
        if credits:
            conn.execute(insert(_CREDITS), [{**c, "repayment_id": new_id} for c in credits])
    _expire(session, LoanInstallment, [r.id for r in installments],
            ["penalty_paid", "interest_paid", "principal_paid", "paid_at"])
    _expire(session, LoanFunding, [s.id for s in stakes], ["interest_earned", "principal_repaid"])
    return attach_inserted(session, Repayment, new_id, values)


_REPAYMENTS = cast(Table, Repayment.__table__)
_CREDITS = cast(Table, LenderCredit.__table__)
_PAY_INSTALLMENT = (
    update(LoanInstallment)
    .where(LoanInstallment.id == bindparam("row_id"))
    .values(penalty_paid=bindparam("penalty_paid"), interest_paid=bindparam("interest_paid"),
            principal_paid=bindparam("principal_paid"), paid_at=bindparam("paid_at"))
)
_CREDIT_STAKE = (
    update(LoanFunding)
    .where(LoanFunding.id == bindparam("stake_id"))
    .values(interest_earned=bindparam("interest_earned"),
            principal_repaid=bindparam("principal_repaid"))
)
_WRITE = text("""
WITH installments AS (
    UPDATE loan_installments
    SET penalty_paid = paid.penalty_paid, interest_paid = paid.interest_paid,
        principal_paid = paid.principal_paid, paid_at = paid.paid_at
    FROM unnest(CAST(:row_ids AS BIGINT[]), CAST(:penalty_paid AS BIGINT[]),
                CAST(:interest_paid AS BIGINT[]), CAST(:principal_paid AS BIGINT[]),
                CAST(:paid_at AS TIMESTAMPTZ[]))
         AS paid(id, penalty_paid, interest_paid, principal_paid, paid_at)
    WHERE loan_installments.id = paid.id
), stakes AS (
    UPDATE loan_fundings
    SET interest_earned = paid.interest_earned, principal_repaid = paid.principal_repaid
    FROM unnest(CAST(:stake_ids AS BIGINT[]), CAST(:interest_earned AS BIGINT[]),
                CAST(:principal_repaid AS BIGINT[]))
         AS paid(id, interest_earned, principal_repaid)
    WHERE loan_fundings.id = paid.id
), repayment AS (
    INSERT INTO repayments (loan_id, member_id, kind, amount, key, source, receipt, penalty,
                            fees, interest, principal, overpayment, platform_interest,
                            balance_after, detail, journal_entry_id, received_at, created_at)
    VALUES (:loan_id, :member_id, :kind, :amount, :key, :source, :receipt, :penalty, :fees,
            :interest, :principal, :overpayment, :platform_interest, :balance_after, :detail,
            :journal_entry_id, :received_at, :created_at)
    RETURNING id
), credits AS (
    INSERT INTO lender_credits (repayment_id, lender_id, loan_reference, amount, balance_after,
                                currency, received_at, notified_at)
    SELECT repayment.id, credit.lender_id, :reference, credit.amount, credit.balance_after,
           :currency, :received_at, credit.notified_at
    FROM repayment, unnest(CAST(:lender_ids AS BIGINT[]), CAST(:shares AS BIGINT[]),
                           CAST(:balances AS BIGINT[]), CAST(:notified AS TIMESTAMPTZ[]))
         AS credit(lender_id, amount, balance_after, notified_at)
)
SELECT id FROM repayment
""").bindparams(bindparam("detail", type_=JSON()), bindparam("received_at", type_=UTCDateTime()),
                bindparam("created_at", type_=UTCDateTime()))


def _expire(session: Session, model: type[Any], ids: Sequence[int], fields: list[str]) -> None:
    """Objects of these rows already in the session would show the values before the UPDATE."""
    for row_id in ids:
        cached = session.identity_map.get(identity_key(model, row_id))
        if cached is not None:
            session.expire(cached, fields)


def _lender_shares(stakes: Sequence[_Stake], split: Distribution) -> list[tuple[_Stake, int]]:
    """Each lender once (the first of their stakes), with the total this payment gave them."""
    totals = split.per_lender()
    first: dict[int, _Stake] = {}
    for stake in stakes:
        first.setdefault(stake.lender_id, stake)
    return [(first[lender], total) for lender, total in totals.items() if total > 0]


def _after_payment(session: Session, loan: Loan, day: date) -> bool:
    """Close a loan that is paid in full (growing the limit); cure a defaulted one."""
    if outstanding_balance(loan) == 0:
        transition(session, loan, REPAID, actor="system", reason="repaid in full")
        loan.nonperforming_since, loan.in_duplum_cap = None, None
        on_loan_repaid(session, loan)
        return True
    if loan.status == DEFAULTED and days_past_due(loan, day) == 0:
        transition(session, loan, ACTIVE, actor="system", reason="cured: arrears cleared")
    return False


# --- credit balances ----------------------------------------------------------------------


def apply_credit_balances(session: Session, today: date) -> int:
    """Spend borrowers' credit on installments that have fallen due; returns how many."""
    loans = session.execute(
        select(Loan.id, Loan.borrower_id)
        .where(Loan.status.in_(REPAYABLE_STATUSES))
        .order_by(Loan.id)
    ).all()
    codes = {borrower_credit(borrower).code for _, borrower in loans}
    holding = set(session.scalars(
        select(ledger.Account.code).where(ledger.Account.code.in_(codes),
                                          ledger.Account.balance != 0)
    ))
    loan_ids = [loan_id for loan_id, b in loans if borrower_credit(b).code in holding]
    applied = 0
    for loan_id in loan_ids:
        applied += _apply_credit(session, loan_id, today)
    return applied


def _apply_credit(session: Session, loan_id: int, today: date) -> int:
    loan = lock_loan(session, loan_id)
    key = f"credit:{loan.id}:{today.isoformat()}"
    due = sum(o.total for o in owed_on(loan) if o.due_date <= today)
    held = ledger.balance(session, borrower_credit(loan.borrower_id))
    if min(due, held) <= 0 or _by_key(session, key) is not None:
        return 0
    record_repayment(session, loan_id=loan.id, amount=min(due, held), key=key, source="credit",
                     from_account=borrower_credit(loan.borrower_id))
    return 1
