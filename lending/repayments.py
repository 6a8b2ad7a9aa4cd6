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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from core.clock import as_utc, utcnow
from ledger import (
    FEE_INCOME,
    INTEREST_INCOME,
    MOBILE_MONEY_FLOAT,
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
from lending.distribution import Distribution, credit_stakes, distribute
from lending.errors import LendingError
from lending.lifecycle import lock_loan, transition
from lending.loans import days_past_due, next_due, outstanding_balance
from lending.localtime import local_date
from lending.models import ACTIVE, DEFAULTED, REPAID, REPAYABLE_STATUSES, Loan, Repayment
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
    """Apply a payment to a loan exactly once per key, and pay its lenders their share."""
    _check_input(amount, key, source)
    existing = _by_key(session, key)
    if existing is not None:
        return _replay(existing, loan_id, amount)
    loan = lock_loan(session, loan_id)
    existing = _by_key(session, key)  # a twin may have committed while we waited
    if existing is not None:
        return _replay(existing, loan_id, amount)
    if loan.status not in REPAYABLE_STATUSES:
        raise LendingError("not_repayable", f"loan {loan.reference} is {loan.status}")
    at = as_utc(received_at or utcnow())
    allocation = allocate_payment(
        owed_on(loan), amount, local_date(at), prepay=loan.product.overpayment == "prepay"
    )
    split = distribute(loan.fundings, allocation.interest, allocation.principal,
                       loan.product.platform_share)
    entry = _post(session, loan, key, amount, allocation, split, from_account, receipt, source, at)
    paid_off = _apply(loan, allocation, at)
    credit_stakes(loan.fundings, split)
    repaid = _after_payment(session, loan, local_date(at))
    result = _store(session, loan, key, amount, source, receipt, at, allocation, split,
                    entry.id, repaid)
    for installment_id in paid_off:  # no reminder may chase these now
        cancel_reminders(session, installment_id)
    notifications.repayment_recorded(session, loan, result.repayment, result.next_due,
                                     split.per_lender())
    return result


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


def _post(
    session: Session, loan: Loan, key: str, amount: int, allocation: Allocation,
    split: Distribution, from_account: AccountSpec, receipt: str | None, source: str,
    at: datetime,
) -> ledger.JournalEntry:
    """The one journal entry that traces this payment to every lender's wallet."""
    legs = [
        debit(from_account, amount),
        credit(loan_penalties(loan.id), allocation.penalty),
        credit(FEE_INCOME, allocation.fees),
        credit(INTEREST_INCOME, split.platform_interest),
        *(credit(lender_wallet(lender), total) for lender, total in split.per_lender().items()),
        debit(loan_participation(loan.id), allocation.principal),
        credit(loan_principal(loan.id), allocation.principal),
        credit(borrower_credit(loan.borrower_id), allocation.overpayment),
    ]
    meta = {
        "receipt": receipt, "source": source, "amount": amount,
        "loan_reference": loan.reference, "allocation": allocation.to_json(),
        "platform_interest": split.platform_interest,
        "lenders": [share.to_json() for share in split.shares],
    }
    return ledger.post(
        session, f"repayment:{key}", "loan_repayment", legs, currency=loan.currency,
        loan_id=loan.id, member_id=loan.borrower_id, occurred_at=at, meta=meta,
        description=f"Repayment of loan {loan.reference}",
    )


def _apply(loan: Loan, allocation: Allocation, at: datetime) -> list[int]:
    """Record on each installment what the payment covered; returns the ids it paid off."""
    rows = {row.number: row for row in loan.installments}
    paid_off = []
    for line in allocation.lines:
        row = rows[line.number]
        row.penalty_paid += line.penalty
        row.interest_paid += line.interest
        row.principal_paid += line.principal
        if row.scheduled_due == 0 and row.paid_at is None:
            row.paid_at = at
            paid_off.append(row.id)
    return paid_off


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


def _store(
    session: Session, loan: Loan, key: str, amount: int, source: str, receipt: str | None,
    at: datetime, allocation: Allocation, split: Distribution, entry_id: int, repaid: bool,
) -> RepaymentResult:
    due = next_due(loan, local_date(at))
    balance = outstanding_balance(loan)
    repayment = Repayment(
        loan_id=loan.id, member_id=loan.borrower_id, kind="repayment", amount=amount, key=key,
        source=source, receipt=receipt, penalty=allocation.penalty, fees=allocation.fees,
        interest=allocation.interest, principal=allocation.principal,
        overpayment=allocation.overpayment, platform_interest=split.platform_interest,
        balance_after=balance, journal_entry_id=entry_id, received_at=at, created_at=utcnow(),
        detail={"allocation": allocation.to_json(), "repaid": repaid,
                "next_due": [due[0].isoformat(), due[1]] if due else None,
                "lenders": [share.to_json() for share in split.shares]},
    )
    session.add(repayment)
    session.flush()
    return RepaymentResult(repayment, allocation, balance, due, repaid, allocation.overpayment)


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
