"""Borrower protection: credit limits that grow with on-time repayment, hardship, write-off.

Credit-limit rules (docs/lending.md):
- a new member starts at KES 2,000;
- a loan repaid with no installment more than 3 days late raises the limit by half,
  rounded (half-even) to KES 500, capped at KES 100,000;
- a loan repaid later than that takes the limit back to where it was before its
  last increase;
- a default sets the limit to KES 0 until an operator sets it again;
- saving regularly: every SAVING_MONTHS (3) consecutive calendar months in each of
  which the member saved at least SAVING_MINIMUM (KES 500) raise the limit by 10%,
  rounded (half-even) to KES 500 and by at least KES 500, but never above
  SAVING_CAP (KES 20,000) by saving alone; a limit of 0 (a default, or not yet
  verified) is left alone. `savings.regularity` counts the months; this applies them.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from core.clock import as_utc, utcnow
from core.money import allocate, round_half_even
from ledger import (
    MOBILE_MONEY_FLOAT,
    RECOVERY_INCOME,
    WRITE_OFF_EXPENSE,
    AccountSpec,
    credit,
    debit,
    lender_wallet,
    loan_participation,
    loan_penalties,
    loan_principal,
)
from lending.distribution import live_stakes
from lending.errors import LendingError
from lending.lifecycle import lock_loan, transition
from lending.loans import days_past_due, principal_outstanding, replace_installments
from lending.localtime import local_date, today
from lending.models import (
    ACTIVE,
    DEFAULTED,
    RECOVERED,
    REPAYABLE_STATUSES,
    WRITTEN_OFF,
    LimitChange,
    Loan,
    LoanInstallment,
    Member,
    Repayment,
    Reschedule,
)
from lending.products import MAX_INSTALLMENTS
from lending.schedule import build_schedule

START_LIMIT = 200_000  # KES 2,000
LIMIT_STEP = 50_000  # limits move in KES 500
MAX_LIMIT = 10_000_000  # KES 100,000
GROWTH = Decimal("1.5")
ON_TIME_DAYS = 3  # an installment paid up to 3 days after its due date is still on time
SAVING_MONTHS = 3  # consecutive months of saving that earn one raise
SAVING_MINIMUM = 50_000  # KES 500 saved in a month counts as a month of saving
SAVING_GROWTH = Decimal("1.1")
SAVING_CAP = 2_000_000  # KES 20,000: beyond this, only repaying loans raises the limit


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


def saver_limit(limit: int) -> int:
    """The limit after a run of regular saving: x1.1 to the nearest KES 500, +KES 500 at least."""
    steps = round_half_even(Decimal(limit) * SAVING_GROWTH / LIMIT_STEP)
    raised = max(steps * LIMIT_STEP, limit + LIMIT_STEP)
    return max(limit, min(raised, SAVING_CAP))


def regular_saving_reason(month_key: str) -> str:
    return f"saved regularly {SAVING_MONTHS} months to {month_key}"


def on_regular_saving(session: Session, member_id: int, month_key: str,
                      streak: int) -> LimitChange | None:
    """Raise the limit when `streak` consecutive saving months end with `month_key`; once.

    A raise comes at every SAVING_MONTHS-th month of a streak (3, 6, 9 …); the
    reason names the month, so a second run for the same month changes nothing.
    """
    if streak <= 0 or streak % SAVING_MONTHS:
        return None
    member = session.get(Member, member_id, with_for_update=True)
    if member is None or member.credit_limit == 0:
        return None
    reason = regular_saving_reason(month_key)
    done = session.scalar(select(LimitChange.id).where(
        LimitChange.member_id == member_id, LimitChange.reason == reason))
    if done is not None:
        return None
    new = saver_limit(member.credit_limit)
    if new == member.credit_limit:
        return None
    return change_limit(session, member, new, reason=reason)


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


# --- hardship rescheduling -------------------------------------------------------------


def _snapshot(loan: Loan) -> list[dict[str, Any]]:
    return [
        {"number": r.number, "due_date": r.due_date.isoformat(), "principal": r.principal,
         "interest": r.interest, "principal_paid": r.principal_paid,
         "interest_paid": r.interest_paid, "penalty_charged": r.penalty_charged,
         "penalty_paid": r.penalty_paid}
        for r in loan.installments
    ]


def reschedule_loan(
    session: Session, loan_id: int, *, actor: str, reason: str, new_term: int
) -> Reschedule:
    """Spread the outstanding principal over `new_term` new installments from today.

    Installments with payments keep what was paid; interest already fallen due and
    unpaid penalties move to the first new installment (never capitalised); interest
    not yet due is replaced by the new schedule's.
    """
    loan = lock_loan(session, loan_id)
    principal = _check_reschedulable(loan, new_term)
    day = today()
    old = _snapshot(loan)
    carried_interest = sum(r.interest_due for r in loan.installments if r.due_date < day)
    carried_penalty = sum(r.penalty_due for r in loan.installments)
    keep = [_settle_as_paid(r) for r in loan.installments if _has_payments(r)]
    terms = dataclasses.replace(loan.product.to_terms(), grace_periods=0)
    rows = build_schedule(terms, principal, new_term, day)
    first_number = max(r.number for r in loan.installments) + 1  # numbers are never reused
    replace_installments(session, loan, rows, first_number=first_number, keep=keep)
    first_new = loan.installments[len(keep)]
    first_new.interest += carried_interest
    first_new.penalty_charged += carried_penalty
    return _record_reschedule(session, loan, old, actor, reason, day)


def _check_reschedulable(loan: Loan, new_term: int) -> int:
    if loan.status not in REPAYABLE_STATUSES:
        raise LendingError("not_repayable", f"loan {loan.reference} is {loan.status}")
    if not isinstance(new_term, int) or isinstance(new_term, bool) or not (
        1 <= new_term <= MAX_INSTALLMENTS
    ):
        raise LendingError("invalid_term", f"1 to {MAX_INSTALLMENTS} installments", field="term")
    principal = principal_outstanding(loan)
    if principal == 0:
        raise LendingError("nothing_to_reschedule", "no principal is outstanding")
    return principal


def _has_payments(row: LoanInstallment) -> bool:
    return bool(row.principal_paid or row.interest_paid or row.penalty_paid)


def _settle_as_paid(row: LoanInstallment) -> LoanInstallment:
    """Shrink a partly paid installment to what was paid on it."""
    row.principal, row.interest = row.principal_paid, row.interest_paid
    row.penalty_charged = row.penalty_paid
    row.paid_at = row.paid_at or utcnow()
    return row


def _record_reschedule(
    session: Session, loan: Loan, old: list[dict[str, Any]], actor: str, reason: str, day: date
) -> Reschedule:
    record = Reschedule(
        loan_id=loan.id, reason=reason[:300], old_schedule=old, new_schedule=_snapshot(loan),
        actor=actor[:80], at=utcnow(),
    )
    session.add(record)
    if loan.status == DEFAULTED and days_past_due(loan, day) == 0:
        transition(session, loan, ACTIVE, actor=actor, reason="cured by rescheduling")
    session.flush()
    return record


# --- write-off and recovery ------------------------------------------------------------------


def write_off_loan(session: Session, loan_id: int, *, actor: str, reason: str) -> Loan:
    """Write a loan off: the lenders bear the principal, the platform the penalties."""
    loan = lock_loan(session, loan_id)
    transition(session, loan, WRITTEN_OFF, actor=actor, reason=reason)
    principal = ledger.balance(session, loan_principal(loan.id))
    penalties = ledger.balance(session, loan_penalties(loan.id))
    if principal != principal_outstanding(loan):
        raise LendingError("books_disagree", f"loan {loan.reference}: schedule and ledger differ")
    if principal or penalties:
        ledger.post(
            session, f"write-off:{loan.id}", "loan_write_off",
            [debit(loan_participation(loan.id), principal),
             credit(loan_principal(loan.id), principal),
             debit(WRITE_OFF_EXPENSE, penalties), credit(loan_penalties(loan.id), penalties)],
            currency=loan.currency, loan_id=loan.id, member_id=loan.borrower_id,
            description=f"Loan {loan.reference} written off",
            meta={"principal": principal, "penalties": penalties, "reason": reason[:200]},
        )
    for stake in live_stakes(loan.fundings):
        stake.principal_lost = stake.principal_outstanding
    return loan


def record_recovery(
    session: Session, loan_id: int, amount: int, key: str, *, source: str = "manual",
    receipt: str | None = None, received_at: datetime | None = None,
    from_account: AccountSpec = MOBILE_MONEY_FLOAT,
) -> Repayment:
    """Money back on a written-off loan: to the lenders pro rata to their losses.

    Anything beyond the lenders' losses is the platform's (recovery income).
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise LendingError("invalid_amount", "a positive amount in minor units", field="amount")
    existing = _recovery_by_key(session, key)
    if existing is not None:
        return _same_recovery(existing, loan_id, amount)
    loan = lock_loan(session, loan_id)
    existing = _recovery_by_key(session, key)  # a twin may have committed while we waited
    if existing is not None:
        return _same_recovery(existing, loan_id, amount)
    if loan.status not in (WRITTEN_OFF, RECOVERED):
        raise LendingError("not_written_off", f"loan {loan.reference} is {loan.status}")
    return _recover(session, loan, amount, key, source, receipt,
                    as_utc(received_at or utcnow()), from_account)


def _same_recovery(existing: Repayment, loan_id: int, amount: int) -> Repayment:
    if (existing.loan_id, existing.amount, existing.kind) != (loan_id, amount, "recovery"):
        raise LendingError("key_conflict", "this key was used for another payment")
    return existing


def _recovery_by_key(session: Session, key: str) -> Repayment | None:
    if not key or len(key) > 120:
        raise LendingError("invalid_key", "a key of 1-120 characters is required", field="key")
    return session.scalar(select(Repayment).where(Repayment.key == key))


def _recover(
    session: Session, loan: Loan, amount: int, key: str, source: str, receipt: str | None,
    at: datetime, from_account: AccountSpec,
) -> Repayment:
    stakes = [s for s in live_stakes(loan.fundings) if s.principal_lost > s.recovered]
    losses = [s.principal_lost - s.recovered for s in stakes]
    to_lenders = min(amount, sum(losses))
    parts = allocate(to_lenders, losses) if to_lenders else [0] * len(stakes)
    shares = [{"funding_id": s.id, "lender_id": s.lender_id, "principal": p}
              for s, p in zip(stakes, parts, strict=True)]
    entry = ledger.post(
        session, f"recovery:{key}", "loan_recovery",
        [debit(from_account, amount), credit(RECOVERY_INCOME, amount - to_lenders),
         *(credit(lender_wallet(s.lender_id), p) for s, p in zip(stakes, parts, strict=True))],
        currency=loan.currency, loan_id=loan.id, member_id=loan.borrower_id, occurred_at=at,
        description=f"Recovery on written-off loan {loan.reference}",
        meta={"receipt": receipt, "amount": amount, "lenders": shares, "source": source},
    )
    for stake, part in zip(stakes, parts, strict=True):
        stake.recovered += part
    if loan.status == WRITTEN_OFF:
        transition(session, loan, RECOVERED, actor="system", reason=f"recovered {amount}")
    return _store_recovery(session, loan, amount, key, source, receipt, at, to_lenders,
                           entry.id, shares)


def _store_recovery(
    session: Session, loan: Loan, amount: int, key: str, source: str, receipt: str | None,
    at: datetime, to_lenders: int, entry_id: int, shares: list[dict[str, int]],
) -> Repayment:
    repayment = Repayment(
        loan_id=loan.id, member_id=loan.borrower_id, kind="recovery", amount=amount, key=key,
        source=source, receipt=receipt, principal=to_lenders, penalty=0, fees=0, interest=0,
        overpayment=0, platform_interest=0, balance_after=0, journal_entry_id=entry_id,
        received_at=at, created_at=utcnow(),
        detail={"lenders": shares, "platform": amount - to_lenders},
    )
    session.add(repayment)
    session.flush()
    return repayment
