"""Hospital cash: bought by M-Pesa prompt, paid per night in hospital by B2C, once."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

import ledger
from insurance import claims, policies
from insurance.accounts import claim_paying
from insurance.errors import InsuranceError
from insurance.models import APPROVED, PAID, PAYING, Policy
from insurance.plans import HOSPITAL_CASH
from insurance.reports import pool_summary
from ledger import JournalEntry
from payments import intents
from payments.providers import simulator

DAY = date(2026, 3, 2)  # the frozen clock's day


def premium_entries(session) -> int:
    return int(session.scalar(select(func.count(JournalEntry.id)).where(
        JournalEntry.kind == "insurance_premium")) or 0)


def test_the_premium_by_m_pesa_prompt_starts_the_cover(insured) -> None:
    policy = insured.hospital_cash()
    assert (policy.status, policy.starts_on, policy.ends_on) == (
        "active", DAY, date(2026, 3, 31))
    assert (policy.premium, policy.nightly_benefit, policy.max_nights) == (15_000, 50_000, 10)
    assert insured.pool() == 15_000
    assert pool_summary(insured.session).premiums_earned == 15_000
    insured.assert_sound()


def test_duplicate_premium_callbacks_credit_the_pool_once(insured) -> None:
    member = insured.member()
    simulator.set_behaviour(member.phone, duplicates=3)
    policy = insured.hospital_cash(member)
    intent = insured.intent(policy.intent_id)
    assert intent.status == "succeeded"
    from payments.models import CallbackInbox

    inbox = insured.session.scalars(select(CallbackInbox).where(
        CallbackInbox.external_id == intent.checkout_request_id)).all()
    assert len(inbox) == 1  # four deliveries, one stored callback
    assert premium_entries(insured.session) == 1
    assert insured.pool() == 15_000
    # the same result processed again by hand (a redelivered job) changes nothing
    from payments.settlement import settle_collection_success

    locked = intents.lock_intent(insured.session, intent.id)
    assert settle_collection_success(insured.session, locked, amount=15_000,
                                     receipt=intent.receipt, occurred_at=None) == "duplicate"
    assert premium_entries(insured.session) == 1
    insured.assert_sound()


def test_a_premium_prompt_she_cancels_buys_nothing_and_she_may_try_again(insured) -> None:
    member = insured.member()
    simulator.set_behaviour(member.phone, outcome="cancelled")
    policy = insured.hospital_cash(member)
    assert policies.current_hospital_cash(insured.session, member.id) is None
    assert insured.session.get(Policy, policy.id).status == "unpaid"
    assert insured.pool() == 0
    simulator.clear_behaviours()
    again = insured.hospital_cash(member)
    assert again.id != policy.id and again.status == "active"
    insured.assert_sound()


def test_one_hospital_cover_at_a_time(insured) -> None:
    policy = insured.hospital_cash()
    with pytest.raises(InsuranceError, match="already_covered"):
        policies.buy_hospital_cash(insured.session, member_id=policy.member_id,
                                   idempotency_key="second")


def file_hospital(insured, policy, nights: int, key: str = "h1", by: str = "member:1"):
    return claims.file_claim(insured.session, policy_id=policy.id, cause="hospital",
                             event_date=DAY, nights=nights, filed_by=by, channel="ussd",
                             idempotency_key=key)


def test_an_accepted_hospital_claim_is_paid_by_b2c_from_the_pool(insured) -> None:
    policy = insured.hospital_cash()
    insured.capital(1_000_000)
    claim = file_hospital(insured, policy, nights=3)
    assert claim.amount == 3 * HOSPITAL_CASH.nightly_benefit
    claims.approve_claim(insured.session, claim.id, actor="ops@mkopo.test")
    assert insured.claim(claim.id).status == PAYING
    assert insured.pool() == 1_015_000 - 150_000  # held out at once
    insured.settle()
    claim = insured.claim(claim.id)
    assert (claim.status, claim.paid_at is not None) == (PAID, True)
    assert ledger.balance(insured.session, claim_paying(claim.id)) == 0
    intent = insured.intent(claim.payout_intent_id)
    assert (intent.kind, intent.amount, intent.status) == ("bima_claim", 150_000, "succeeded")
    summary = pool_summary(insured.session)
    assert (summary.premiums_earned, summary.claims_paid, summary.pool_balance) == (
        15_000, 150_000, 865_000)
    assert str(summary.loss_ratio) == "1000.0"
    insured.assert_sound()


def test_nights_are_capped_per_period(insured) -> None:
    policy = insured.hospital_cash()
    first = file_hospital(insured, policy, nights=7, key="a")
    second = file_hospital(insured, policy, nights=7, key="b")
    assert (first.amount, second.amount) == (350_000, 150_000)  # 7 nights, then the last 3
    with pytest.raises(InsuranceError, match="cap_reached"):
        file_hospital(insured, policy, nights=1, key="c")
    claims.reject_claim(insured.session, second.id, actor="ops", reason="duplicate stay")
    assert file_hospital(insured, policy, nights=5, key="d").amount == 150_000


def test_a_failed_benefit_payout_goes_back_to_the_pool_and_can_be_retried(insured) -> None:
    policy = insured.hospital_cash()
    insured.capital(1_000_000)
    claim = file_hospital(insured, policy, nights=2)
    phone = insured.intent(policy.intent_id).phone
    simulator.set_behaviour(phone, outcome="unreachable")
    claims.approve_claim(insured.session, claim.id, actor="ops@mkopo.test")
    insured.settle()
    assert insured.claim(claim.id).status == APPROVED
    assert insured.pool() == 1_015_000
    simulator.clear_behaviours()
    claims.retry_payout(insured.session, claim.id, actor="ops@mkopo.test")
    insured.settle()
    claim = insured.claim(claim.id)
    assert (claim.status, claim.payout_attempts) == (PAID, 2)
    assert insured.pool() == 1_015_000 - 100_000
    insured.assert_sound()


def test_a_hospital_claim_decided_twice_pays_once(insured) -> None:
    policy = insured.hospital_cash()
    insured.capital(1_000_000)
    claim = file_hospital(insured, policy, nights=1)
    claims.approve_claim(insured.session, claim.id, actor="ops@mkopo.test")
    claims.approve_claim(insured.session, claim.id, actor="second@mkopo.test")
    claims.retry_payout(insured.session, claim.id, actor="ops@mkopo.test")  # still paying
    insured.settle()
    from payments.models import PaymentIntent

    payouts = insured.session.scalars(select(PaymentIntent).where(
        PaymentIntent.kind == "bima_claim")).all()
    assert [p.amount for p in payouts] == [50_000]
    assert insured.pool() == 1_015_000 - 50_000
    insured.assert_sound()


def test_no_claim_outside_the_period_or_without_nights(insured) -> None:
    policy = insured.hospital_cash()
    with pytest.raises(InsuranceError, match="not_covered"):
        claims.file_claim(insured.session, policy_id=policy.id, cause="hospital",
                          event_date=date(2026, 3, 1), nights=2, filed_by="member:1",
                          channel="ussd", idempotency_key="early")
    with pytest.raises(InsuranceError, match="invalid_nights"):
        file_hospital(insured, policy, nights=0, key="zero")


@pytest.mark.parametrize(("language", "words"), [
    ("en", "did not go through; no money was taken"), ("sw", "hayakufaulu")])
def test_a_declined_premium_prompt_is_told_by_sms(insured, language, words) -> None:
    from messaging.models import SmsMessage

    member = insured.member()
    member.language = language
    simulator.set_behaviour(member.phone, outcome="cancelled")
    policy = insured.hospital_cash(member)
    insured.settle()
    assert insured.session.get(Policy, policy.id).status == "unpaid"
    (told,) = insured.session.scalars(select(SmsMessage).where(
        SmsMessage.to_phone == member.phone, SmsMessage.template == "bima_premium_failed"))
    assert words in told.body and "KES 150" in told.body and told.segments == 1
