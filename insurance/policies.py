"""Policies: credit-life cover starts when a covered loan is paid out; hospital cash is bought.

Ledger entries:
- credit-life premium: inside the loan's disbursement entry (`disbursement:{loan}`),
  Cr insurance pool premium (lending posts it through `lending.cover`).
- hospital-cash premium, on the STK success (key `bima-premium:{CheckoutRequestID}`):
  Dr M-Pesa float / Cr insurance pool. A duplicate callback finds the intent settled
  (and the key posted), so the premium is credited once.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from core.clock import utcnow
from core.money import Money
from insurance.accounts import INSURANCE_POOL
from insurance.errors import InsuranceError
from insurance.models import (
    ACTIVE,
    CREDIT_LIFE,
    ENDED,
    HOSPITAL_CASH,
    PENDING_PAYMENT,
    SETTLED,
    UNPAID,
    Policy,
)
from insurance.plans import HOSPITAL_CASH as PLAN
from insurance.plans import HospitalCashPlan
from ledger import MOBILE_MONEY_FLOAT, credit, debit
from lending.localtime import local_date, today
from lending.models import MEMBER_ACTIVE, REPAYABLE_STATUSES, Loan, Member
from messaging.outbound import queue_sms
from payments import intents
from payments.models import CANCELLED as INTENT_CANCELLED
from payments.models import FAILED as INTENT_FAILED
from payments.models import PaymentIntent

logger = logging.getLogger(__name__)

PREMIUM_KIND = "bima_premium"
"""The payment-intent kind of a hospital-cash premium (registered in `insurance.wiring`)."""
PREMIUM_ENTRY_PREFIX = "bima-premium:"


# --- credit-life -------------------------------------------------------------------------


def start_credit_life(session: Session, loan: Loan) -> Policy:
    """A covered loan was paid out: its policy is in force from today (once per loan)."""
    existing = session.scalar(select(Policy).where(Policy.loan_id == loan.id))
    if existing is not None:
        return existing
    policy = Policy(
        kind=CREDIT_LIFE, member_id=loan.borrower_id, loan_id=loan.id, status=ACTIVE,
        premium=loan.credit_life_premium, currency=loan.currency, starts_on=loan.start_date,
        key=f"credit-life:{loan.id}", created_at=utcnow(),
    )
    session.add(policy)
    session.flush()
    return policy


def credit_life_in_force(policy: Policy, loan: Loan, day: date) -> bool:
    """Cover runs while the loan is still owed; it ends when the loan closes."""
    return policy.in_force_on(day) and loan.status in REPAYABLE_STATUSES


# --- hospital cash -----------------------------------------------------------------------


def buy_hospital_cash(session: Session, *, member_id: int, idempotency_key: str,
                      plan: HospitalCashPlan = PLAN) -> Policy:
    """Ask the member's phone for the premium (an STK push through the outbox), once per key.

    The policy waits for the premium and is in force from the day it is paid. A
    member already covered, or with a premium prompt still open, is refused.
    """
    existing = session.scalar(select(Policy).where(Policy.key == idempotency_key))
    if existing is not None:
        if existing.member_id != member_id or existing.kind != HOSPITAL_CASH:
            raise InsuranceError("key_conflict", "this key was used for another policy")
        return existing
    member = _active_member(session, member_id)
    if current_hospital_cash(session, member_id) is not None:
        raise InsuranceError("already_covered", "hospital cash is already in force or paying")
    policy = Policy(
        kind=HOSPITAL_CASH, member_id=member_id, status=PENDING_PAYMENT, premium=plan.premium,
        currency="KES", nightly_benefit=plan.nightly_benefit, max_nights=plan.max_nights,
        key=idempotency_key, created_at=utcnow(),
    )
    with session.begin_nested():
        session.add(policy)
        session.flush()
        intent = intents.request_collection(
            session, kind=PREMIUM_KIND, member_id=member_id, phone=member.phone,
            amount=plan.premium, idempotency_key=f"bima-premium:{policy.id}",
            reference=f"BIMA{policy.id}")
        policy.intent_id = intent.id
    return policy


def _active_member(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None or member.status != MEMBER_ACTIVE:
        raise InsuranceError("member_inactive", "only an active member can buy cover")
    return member


def current_hospital_cash(session: Session, member_id: int) -> Policy | None:
    """The member's hospital cash in force today, or waiting for a premium still on its way."""
    day = today()
    for policy in session.scalars(
        select(Policy).where(Policy.member_id == member_id, Policy.kind == HOSPITAL_CASH,
                             Policy.status.in_((ACTIVE, PENDING_PAYMENT)))
        .order_by(Policy.id.desc())
    ):
        if policy.status == ACTIVE and policy.in_force_on(day):
            return policy
        if policy.status == PENDING_PAYMENT and not _prompt_failed(session, policy):
            return policy
    return None


def _prompt_failed(session: Session, policy: Policy) -> bool:
    """The premium prompt was cancelled or failed: the policy will never start."""
    if policy.intent_id is None:
        return True
    intent = session.get(PaymentIntent, policy.intent_id)
    if intent is None or intent.status in (INTENT_FAILED, INTENT_CANCELLED):
        if policy.status == PENDING_PAYMENT:
            policy.status = UNPAID
        return True
    return False


def premium_not_paid(session: Session, intent: PaymentIntent) -> None:
    """The premium prompt was declined or failed: the cover never starts, and she is told."""
    policy = session.scalar(select(Policy).where(Policy.intent_id == intent.id)
                            .with_for_update())
    if policy is not None and policy.status == PENDING_PAYMENT:
        policy.status = UNPAID
    member = session.get(Member, intent.member_id) if intent.member_id else None
    queue_sms(session, intent.phone, "bima_premium_failed",
              member.language if member is not None else "en",
              {"amount": Money(intent.amount, intent.currency)},
              f"bima-premium-failed:{intent.id}")


def premium_paid(session: Session, intent: PaymentIntent, key: str, at: datetime,
                 receipt: str | None) -> None:
    """The hospital-cash premium arrived (called by payments with the intent locked)."""
    policy = session.scalar(select(Policy).where(Policy.intent_id == intent.id)
                            .with_for_update())
    if policy is None:  # an intent of our kind with no policy: keep the money visible
        raise InsuranceError("unknown_policy", f"no policy for intent {intent.id}")
    ledger.post(
        session, f"{PREMIUM_ENTRY_PREFIX}{key}", "insurance_premium",
        [debit(MOBILE_MONEY_FLOAT, intent.amount), credit(INSURANCE_POOL, intent.amount)],
        currency=intent.currency, member_id=intent.member_id, occurred_at=at,
        description="Hospital cash premium by M-Pesa",
        meta={"receipt": receipt, "intent_id": intent.id, "policy_id": policy.id},
    )
    if policy.status in (PENDING_PAYMENT, UNPAID):
        # A late success after a recorded failure still buys the cover she paid for.
        policy.status = ACTIVE
        policy.starts_on = local_date(at)
        policy.ends_on = policy.starts_on + timedelta(days=PLAN.cover_days - 1)


def settle_credit_life(policy: Policy) -> None:
    """A paid claim ends credit-life cover: the loan it covered is settled."""
    policy.status = SETTLED


def shown_status(session: Session, policy: Policy) -> str:
    """The status a person reads: an active policy whose loan closed or period ran out ended."""
    if policy.status != ACTIVE:
        return policy.status
    if policy.kind == CREDIT_LIFE:
        loan = session.get(Loan, policy.loan_id)
        return ACTIVE if loan is not None and loan.status in REPAYABLE_STATUSES else ENDED
    return ACTIVE if policy.ends_on is None or policy.ends_on >= today() else ENDED


def member_policies(session: Session, member_id: int) -> list[Policy]:
    """The member's policies, newest first (unpaid premiums marked as such)."""
    policies = list(session.scalars(
        select(Policy).where(Policy.member_id == member_id).order_by(Policy.id.desc())))
    for policy in policies:
        if policy.status == PENDING_PAYMENT:
            _prompt_failed(session, policy)
    return policies
