"""Claims: filed by the member (USSD) or a field partner (API/console), decided by an operator.

Maker-checker: the person who decides a claim is never the one who filed it.
An accepted claim is paid at once, through the paths that already move money:

- credit-life (death or disability of the borrower): the loan's whole outstanding
  balance is settled from the insurance pool by lending's `record_repayment` (key
  `repayment:claim-{id}`, source `insurance`), the one domain path that applies
  money to a loan, so every lender is paid their share exactly as by a repayment;
- hospital cash: the benefit is held out of the pool (`bima-claim-hold:{id}:{n}`:
  Dr pool / Cr claim paying) and paid by B2C through payments' payout path and
  outbox (with its approval threshold and SIM-swap guard). Success: Dr claim paying /
  Cr float (`bima-claim-paid:{intent}`); failure: back to the pool
  (`bima-claim-release:{intent}`) and the claim waits, approved, for a retry.

Paying takes the claim's row lock and then the pool's, and checks the pool holds
the benefit, so a claim decided twice (two operators, a double click, a retried
request) is paid once, and two claims never spend the same premium.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from core.clock import utcnow
from insurance.accounts import INSURANCE_POOL, claim_paying
from insurance.errors import InsuranceError
from insurance.models import (
    ACTIVE,
    APPROVED,
    CAUSES,
    CREDIT_LIFE,
    FILED,
    HOSPITAL_CASH,
    OPEN_CLAIM_STATUSES,
    PAID,
    PAYING,
    REJECTED,
    Claim,
    Policy,
)
from insurance.policies import credit_life_in_force, settle_credit_life
from ledger import MOBILE_MONEY_FLOAT, credit, debit
from lending.errors import LendingError
from lending.lifecycle import lock_loan
from lending.loans import outstanding_balance
from lending.localtime import today
from lending.models import Loan, Member
from lending.repayments import record_repayment
from payments import intents
from payments.models import PaymentIntent

logger = logging.getLogger(__name__)

CHANNELS = ("ussd", "api", "console")
PAYOUT_KIND = "bima_claim"
"""The payment-intent kind of a hospital-cash benefit (registered in `insurance.wiring`)."""
MAX_REASON = 300


# --- filing ------------------------------------------------------------------------------


def file_claim(
    session: Session, *, policy_id: int, cause: str, event_date: date, filed_by: str,
    channel: str, idempotency_key: str, nights: int = 0,
) -> Claim:
    """Record a claim for an operator to decide; the same key again is the same claim."""
    existing = session.scalar(select(Claim).where(Claim.key == idempotency_key))
    if existing is not None:
        if existing.policy_id != policy_id or existing.cause != cause:
            raise InsuranceError("key_conflict", "this key was used for another claim")
        return existing
    _check_filing(filed_by, channel, event_date)
    policy = _lock_policy(session, policy_id)
    if cause not in CAUSES[policy.kind]:
        raise InsuranceError("invalid_cause", f"one of {', '.join(CAUSES[policy.kind])}",
                             field="cause")
    if policy.kind == CREDIT_LIFE:
        amount = _check_credit_life(session, policy, event_date)
        nights = 0
    else:
        amount = _hospital_benefit(session, policy, event_date, nights)
    claim = Claim(
        policy_id=policy.id, member_id=policy.member_id, cause=cause, event_date=event_date,
        nights=nights, amount=amount, status=FILED, filed_by=filed_by[:80], channel=channel,
        key=idempotency_key, created_at=utcnow(),
    )
    session.add(claim)
    session.flush()
    logger.info("claim %s filed on policy %s via %s", claim.id, policy.id, channel)
    return claim


def _check_filing(filed_by: str, channel: str, event_date: date) -> None:
    if channel not in CHANNELS:
        raise InsuranceError("invalid_channel", f"one of {', '.join(CHANNELS)}")
    if not filed_by.strip():
        raise InsuranceError("invalid_filer", "a claim needs the person who files it")
    if not isinstance(event_date, date) or event_date > today():
        raise InsuranceError("invalid_date", "the event date cannot be in the future",
                             field="event_date")


def _lock_policy(session: Session, policy_id: int) -> Policy:
    query = select(Policy).where(Policy.id == policy_id).execution_options(
        populate_existing=True)
    query = query.with_for_update()
    policy = session.scalar(query)
    if policy is None:
        raise InsuranceError("unknown_policy", f"no policy {policy_id}", field="policy_id")
    return policy


def _open_claims(session: Session, policy_id: int) -> Sequence[Claim]:
    return session.scalars(select(Claim).where(
        Claim.policy_id == policy_id, Claim.status.in_(OPEN_CLAIM_STATUSES))).all()


def _check_credit_life(session: Session, policy: Policy, event_date: date) -> int:
    """A credit-life claim: the loan still owed, the cover in force, no other claim open."""
    loan = session.get(Loan, policy.loan_id)
    if loan is None or not credit_life_in_force(policy, loan, event_date):
        raise InsuranceError("not_covered", "the loan is not covered on that date")
    if _open_claims(session, policy.id):
        raise InsuranceError("claim_open", "a claim on this loan is already open")
    return 0  # the balance to settle is read when the claim is paid, not now


def _hospital_benefit(session: Session, policy: Policy, event_date: date, nights: int) -> int:
    """Nights x the nightly benefit, within the nights the period has left."""
    if not isinstance(nights, int) or isinstance(nights, bool) or nights < 1:
        raise InsuranceError("invalid_nights", "at least one night in hospital", field="nights")
    if not policy.in_force_on(event_date):
        raise InsuranceError("not_covered", "no hospital cover on that date")
    left = policy.max_nights - nights_claimed(session, policy.id)
    if left <= 0:
        raise InsuranceError("cap_reached", "this period's nights are all claimed")
    return min(nights, left) * policy.nightly_benefit


def nights_claimed(session: Session, policy_id: int) -> int:
    """Hospital nights claimed on a policy this period (rejected claims do not count)."""
    return sum(session.scalars(select(Claim.nights).where(
        Claim.policy_id == policy_id, Claim.status != REJECTED)))


def nights_left(session: Session, policy: Policy) -> int:
    """What an active hospital-cash policy still covers; nothing once it is not active."""
    if policy.status != ACTIVE:
        return 0
    return max(0, policy.max_nights - nights_claimed(session, policy.id))


def claims_of(session: Session, member_id: int, limit: int) -> list[Claim]:
    """A member's claims, newest first."""
    return list(session.scalars(select(Claim).where(Claim.member_id == member_id)
                                .order_by(Claim.id.desc()).limit(limit)))


def member_policy(session: Session, member_id: int, policy_id: int) -> Policy:
    """One of the member's own policies; anyone else's is unknown to her."""
    policy = session.get(Policy, policy_id)
    if policy is None or policy.member_id != member_id:
        raise InsuranceError("unknown_policy")
    return policy


# --- deciding ----------------------------------------------------------------------------


def lock_claim(session: Session, claim_id: int) -> Claim:
    """The claim, row-locked for the rest of the transaction."""
    query = select(Claim).where(Claim.id == claim_id).execution_options(populate_existing=True)
    query = query.with_for_update(of=Claim)
    claim = session.scalar(query)
    if claim is None:
        raise InsuranceError("unknown_claim", f"no claim {claim_id}")
    return claim


def approve_claim(session: Session, claim_id: int, *, actor: str, reason: str = "") -> Claim:
    """Accept a claim and pay it; deciding an accepted claim again pays nothing more."""
    claim = lock_claim(session, claim_id)
    if claim.status in (APPROVED, PAYING, PAID):
        return claim  # decided already (a second operator, a retried request)
    _check_decider(claim, actor)
    claim.status, claim.decided_by, claim.decided_at = APPROVED, actor[:80], utcnow()
    claim.reason = reason[:MAX_REASON]
    if claim.policy.kind == CREDIT_LIFE:
        _settle_loan(session, claim)
    else:
        _pay_benefit(session, claim)
    return claim


def reject_claim(session: Session, claim_id: int, *, actor: str, reason: str) -> Claim:
    """Turn a claim down, with the reason the member or partner will be given."""
    if not reason.strip():
        raise InsuranceError("reason_required", "say why the claim is rejected", field="reason")
    claim = lock_claim(session, claim_id)
    if claim.status == REJECTED:
        return claim
    _check_decider(claim, actor)
    claim.status, claim.decided_by, claim.decided_at = REJECTED, actor[:80], utcnow()
    claim.reason = reason[:MAX_REASON]
    return claim


def _check_decider(claim: Claim, actor: str) -> None:
    if claim.status != FILED:
        raise InsuranceError("already_decided", f"claim {claim.id} is {claim.status}")
    if not actor.strip():
        raise InsuranceError("invalid_decider", "a decision needs the person who makes it")
    if actor.strip().lower() == claim.filed_by.strip().lower():
        raise InsuranceError("same_person", "the person who filed a claim cannot decide it")


def _take_from_pool(session: Session, amount: int) -> None:
    """Hold the pool's row lock and refuse what it does not hold (claims never overdraw it)."""
    ledger.lock_account(session, INSURANCE_POOL)
    held = ledger.balance(session, INSURANCE_POOL)
    if held < amount:
        raise InsuranceError("pool_insufficient",
                             f"the pool holds {held}, the claim needs {amount}")


def _settle_loan(session: Session, claim: Claim) -> None:
    """Pay the loan's whole outstanding balance from the pool, as a repayment."""
    loan_id = claim.policy.loan_id
    assert loan_id is not None
    loan = lock_loan(session, loan_id)
    balance = outstanding_balance(loan)
    if balance <= 0:
        raise InsuranceError("nothing_owed", f"loan {loan.reference} owes nothing")
    _take_from_pool(session, balance)
    try:
        with session.begin_nested():
            record_repayment(session, loan_id=loan.id, amount=balance, key=f"claim-{claim.id}",
                             source="insurance", receipt=f"CLAIM{claim.id}",
                             from_account=INSURANCE_POOL)
    except LendingError as exc:
        raise InsuranceError("loan_refused", exc.message) from None
    claim.amount, claim.status, claim.paid_at = balance, PAID, utcnow()
    settle_credit_life(claim.policy)


def _pay_benefit(session: Session, claim: Claim) -> None:
    """Hold the benefit out of the pool and order its B2C payout (through the outbox)."""
    member = session.get(Member, claim.member_id)
    assert member is not None
    _take_from_pool(session, claim.amount)
    claim.payout_attempts += 1
    attempt = claim.payout_attempts

    def hold(intent: PaymentIntent) -> None:
        ledger.post(
            session, f"bima-claim-hold:{claim.id}:{attempt}", "insurance_claim_hold",
            [debit(INSURANCE_POOL, claim.amount), credit(claim_paying(claim.id), claim.amount)],
            currency=intent.currency, member_id=claim.member_id,
            description=f"Claim {claim.id} benefit held for payout",
            meta={"claim_id": claim.id, "intent_id": intent.id},
        )

    intent = intents.request_payout(
        session, kind=PAYOUT_KIND, member_id=claim.member_id, phone=member.phone,
        amount=claim.amount, idempotency_key=f"bima-claim:{claim.id}:{attempt}",
        reference=f"CLAIM{claim.id}", hold=hold)
    claim.payout_intent_id, claim.status = intent.id, PAYING


def retry_payout(session: Session, claim_id: int, *, actor: str) -> Claim:
    """Pay an accepted hospital-cash claim whose B2C failed, with a new payout key."""
    claim = lock_claim(session, claim_id)
    if claim.status in (PAYING, PAID):
        return claim
    if claim.status != APPROVED or claim.policy.kind != HOSPITAL_CASH:
        raise InsuranceError("not_retryable", f"claim {claim.id} is {claim.status}")
    logger.info("claim %s payout retried by %s", claim.id, actor)
    _pay_benefit(session, claim)
    return claim


# --- payout outcomes (called by payments with the intent's row lock held) ----------------


def _claim_of(session: Session, intent: PaymentIntent) -> Claim:
    claim = session.scalar(select(Claim).where(Claim.payout_intent_id == intent.id))
    if claim is None:
        raise InsuranceError("unknown_claim", f"no claim for intent {intent.id}")
    return lock_claim(session, claim.id)


def benefit_paid(session: Session, intent: PaymentIntent, key: str, at: datetime,
                 receipt: str | None) -> None:
    """M-Pesa paid the benefit: it leaves the float; the claim is paid."""
    claim = _claim_of(session, intent)
    ledger.post(
        session, f"bima-claim-paid:{intent.id}", "insurance_claim_paid",
        [debit(claim_paying(claim.id), intent.amount), credit(MOBILE_MONEY_FLOAT, intent.amount)],
        currency=intent.currency, member_id=claim.member_id, occurred_at=at,
        description=f"Claim {claim.id} paid to M-Pesa",
        meta={"claim_id": claim.id, "intent_id": intent.id, "receipt": receipt},
    )
    claim.status, claim.paid_at = PAID, at


def benefit_not_paid(session: Session, intent: PaymentIntent, reason: str) -> None:
    """No money left (failed or rejected payout): back to the pool; the claim awaits a retry."""
    claim = _claim_of(session, intent)
    ledger.post(
        session, f"bima-claim-release:{intent.id}", "insurance_claim_release",
        [debit(claim_paying(claim.id), intent.amount), credit(INSURANCE_POOL, intent.amount)],
        currency=intent.currency, member_id=claim.member_id,
        description=f"Claim {claim.id} payout failed; back to the pool",
        meta={"claim_id": claim.id, "intent_id": intent.id, "reason": reason[:200]},
    )
    if claim.status == PAYING:
        claim.status = APPROVED
