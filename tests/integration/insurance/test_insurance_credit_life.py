"""Credit-life cover: the premium at payout, and a claim that settles the loan from the pool."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

import ledger
from insurance import claims
from insurance.errors import InsuranceError
from insurance.models import PAID, REJECTED, SETTLED, Policy
from insurance.reports import pool_summary
from ledger import FEE_INCOME, lender_wallet, loan_participation, loan_principal
from lending import settlement as loan_settlement
from lending.errors import LendingError
from lending.models import Repayment
from lending.repayments import record_repayment
from messaging.models import SmsMessage
from payments.models import SimMpesaTransaction

DAY = date(2026, 3, 2)  # the frozen clock's day


def sim_rows(session, kind: str) -> list[SimMpesaTransaction]:
    """What the simulated M-Pesa did, by kind."""
    session.expire_all()
    return list(session.scalars(select(SimMpesaTransaction).where(
        SimMpesaTransaction.kind == kind).order_by(SimMpesaTransaction.id)))


def test_the_premium_is_deducted_at_payout_into_the_pool(insured) -> None:
    loan = insured.covered_loan(100_000)
    # KES 1,000: fee 2% = KES 20, cover 1.5% = KES 15; the phone receives KES 965.
    assert (loan.upfront_fee, loan.credit_life_premium, loan.net_disbursed) == (
        2_000, 1_500, 98_000)
    (b2c,) = [row for row in sim_rows(insured.session, "b2c")
              if row.phone == loan.borrower.phone]
    assert b2c.amount == 96_500
    assert insured.pool() == 1_500
    assert ledger.balance(insured.session, FEE_INCOME) == 2_000
    policy = insured.policy_of(loan)
    assert (policy.kind, policy.status, policy.premium, policy.member_id) == (
        "credit_life", "active", 1_500, loan.borrower_id)
    assert pool_summary(insured.session).premiums_earned == 1_500
    insured.assert_sound()


def test_a_product_without_cover_moves_nothing_to_the_pool(insured) -> None:
    loan = insured.covered_loan(100_000, credit_life_premium_percent="0")
    assert loan.credit_life_premium == 0
    assert insured.pool() == 0
    assert insured.session.scalar(select(Policy).where(
        Policy.loan_id == loan.id)) is None
    insured.assert_sound()


def test_an_accepted_death_claim_repays_every_lender_in_full(insured) -> None:
    loan = insured.covered_loan(100_000, lenders=2)
    insured.capital(500_000)
    pool_before = insured.pool()
    claim = claims.file_claim(
        insured.session, policy_id=insured.policy_of(loan).id, cause="death", event_date=DAY,
        filed_by="partner:7", channel="api", idempotency_key="claim-1")
    assert claim.status == "filed" and claim.amount == 0
    claims.approve_claim(insured.session, claim.id, actor="ops@mkopo.test")
    insured.settle()

    claim = insured.claim(claim.id)
    loan = insured.session.get(type(loan), loan.id)
    # 52% flat for 4 weeks: KES 40 interest; the whole KES 1,040 is settled from the pool.
    assert (claim.status, claim.amount, loan.status) == (PAID, 104_000, "repaid")
    assert insured.pool() == pool_before - 104_000
    assert claim.policy.status == SETTLED
    for stake in loan.fundings:  # principal back in full, and 80% of the interest
        assert stake.principal_outstanding == 0 and stake.principal_repaid == stake.amount
        assert ledger.balance(insured.session, lender_wallet(stake.lender_id)) == (
            stake.amount + stake.interest_earned)
    assert sum(s.interest_earned for s in loan.fundings) == 3_200
    assert ledger.balance(insured.session, loan_principal(loan.id)) == 0
    assert ledger.balance(insured.session, loan_participation(loan.id)) == 0
    (repayment,) = insured.session.scalars(select(Repayment).where(Repayment.loan_id == loan.id))
    assert (repayment.source, repayment.key, repayment.amount) == (
        "insurance", f"claim-{claim.id}", 104_000)
    summary = pool_summary(insured.session)
    assert (summary.premiums_earned, summary.claims_paid) == (1_500, 104_000)
    assert str(summary.loss_ratio) == "6933.3"
    insured.assert_sound()


def test_a_claim_after_part_payments_settles_only_what_is_left(insured) -> None:
    loan = insured.covered_loan(100_000, lenders=1)
    insured.capital(500_000)
    loan_settlement.request_repayment(
        insured.session, member_id=loan.borrower_id, loan_id=loan.id, phone=loan.borrower.phone,
        amount=26_000, idempotency_key="p1")
    insured.settle()  # she paid one installment by M-Pesa
    claim = claims.file_claim(
        insured.session, policy_id=insured.policy_of(loan).id, cause="disability",
        event_date=DAY, filed_by="member:1", channel="ussd", idempotency_key="c-part")
    claims.approve_claim(insured.session, claim.id, actor="ops@mkopo.test")
    assert insured.claim(claim.id).amount == 78_000
    insured.session.commit()
    insured.assert_sound()


def test_the_filer_cannot_decide_their_own_claim(insured) -> None:
    loan = insured.covered_loan()
    insured.capital(500_000)
    claim = claims.file_claim(
        insured.session, policy_id=insured.policy_of(loan).id, cause="death", event_date=DAY,
        filed_by="ops@mkopo.test", channel="console", idempotency_key="self")
    for decide in (lambda: claims.approve_claim(insured.session, claim.id,
                                                actor="OPS@mkopo.test "),
                   lambda: claims.reject_claim(insured.session, claim.id,
                                               actor="ops@mkopo.test", reason="no")):
        with pytest.raises(InsuranceError) as refused:
            decide()
        assert refused.value.code == "same_person"
    assert insured.claim(claim.id).status == "filed"
    assert insured.pool() == 501_500


def test_a_rejected_claim_moves_no_money_and_cannot_then_be_paid(insured) -> None:
    loan = insured.covered_loan()
    insured.capital(500_000)
    claim = claims.file_claim(
        insured.session, policy_id=insured.policy_of(loan).id, cause="death", event_date=DAY,
        filed_by="partner:1", channel="api", idempotency_key="rej")
    with pytest.raises(InsuranceError, match="reason_required"):
        claims.reject_claim(insured.session, claim.id, actor="ops@mkopo.test", reason=" ")
    entries = insured.session.scalar(select(func.count(ledger.JournalEntry.id)))
    claims.reject_claim(insured.session, claim.id, actor="ops@mkopo.test",
                        reason="death certificate does not match")
    with pytest.raises(InsuranceError, match="already_decided"):
        claims.approve_claim(insured.session, claim.id, actor="other@mkopo.test")
    assert insured.claim(claim.id).status == REJECTED
    assert insured.session.scalar(select(func.count(ledger.JournalEntry.id))) == entries


def test_a_claim_the_pool_cannot_pay_is_refused_and_changes_nothing(insured) -> None:
    loan = insured.covered_loan()  # the pool holds this loan's KES 15 premium only
    claim = claims.file_claim(
        insured.session, policy_id=insured.policy_of(loan).id, cause="death", event_date=DAY,
        filed_by="partner:1", channel="api", idempotency_key="short")
    insured.session.commit()
    with pytest.raises(InsuranceError, match="pool_insufficient"):
        with insured.session.begin_nested():
            claims.approve_claim(insured.session, claim.id, actor="ops@mkopo.test")
    insured.session.expire_all()
    assert insured.claim(claim.id).status == "filed"
    assert insured.pool() == 1_500
    assert insured.session.get(type(loan), loan.id).status == "active"


def test_an_accepted_claim_decided_again_pays_once(insured) -> None:
    loan = insured.covered_loan()
    insured.capital(500_000)
    claim = claims.file_claim(
        insured.session, policy_id=insured.policy_of(loan).id, cause="death", event_date=DAY,
        filed_by="partner:1", channel="api", idempotency_key="twice")
    claims.approve_claim(insured.session, claim.id, actor="ops@mkopo.test")
    claims.approve_claim(insured.session, claim.id, actor="other@mkopo.test")
    assert insured.pool() == 501_500 - 104_000
    assert len(insured.session.scalars(select(Repayment).where(
        Repayment.loan_id == loan.id)).all()) == 1


@pytest.mark.parametrize(("cause", "event_date", "code"), [
    ("hospital", DAY, "invalid_cause"),
    ("death", date(2026, 3, 9), "invalid_date"),
    ("death", date(2026, 2, 1), "not_covered"),  # before the loan was paid out
])
def test_claims_the_cover_does_not_take_are_refused(insured, cause, event_date, code) -> None:
    loan = insured.covered_loan()
    with pytest.raises(InsuranceError) as refused:
        claims.file_claim(insured.session, policy_id=insured.policy_of(loan).id, cause=cause,
                          event_date=event_date, filed_by="partner:1", channel="api",
                          idempotency_key=f"bad-{code}")
    assert refused.value.code == code


def test_one_open_claim_per_loan_and_the_same_key_is_the_same_claim(insured) -> None:
    loan = insured.covered_loan()
    policy_id = insured.policy_of(loan).id
    first = claims.file_claim(insured.session, policy_id=policy_id, cause="death",
                              event_date=DAY, filed_by="partner:1", channel="api",
                              idempotency_key="k1")
    again = claims.file_claim(insured.session, policy_id=policy_id, cause="death",
                              event_date=DAY, filed_by="partner:1", channel="api",
                              idempotency_key="k1")
    assert again.id == first.id
    with pytest.raises(InsuranceError, match="claim_open"):
        claims.file_claim(insured.session, policy_id=policy_id, cause="disability",
                          event_date=DAY, filed_by="member:1", channel="ussd",
                          idempotency_key="k2")


def test_a_repaid_loan_is_no_longer_covered(insured) -> None:
    from lending.repayments import record_repayment

    loan = insured.covered_loan()
    record_repayment(insured.session, loan_id=loan.id, amount=104_000, key="all",
                     source="manual")
    with pytest.raises(InsuranceError, match="not_covered"):
        claims.file_claim(insured.session, policy_id=insured.policy_of(loan).id,
                          cause="death", event_date=DAY, filed_by="partner:1", channel="api",
                          idempotency_key="late")


def test_a_covered_loan_cannot_pay_out_without_the_insurance_package(insured,
                                                                     monkeypatch) -> None:
    from lending import cover

    monkeypatch.setattr(cover, "_port", None)
    with pytest.raises(LendingError, match="no_insurance"):
        cover.cover_port()


def borrower_sms(session, phone: str) -> list[SmsMessage]:
    session.expire_all()
    return list(session.scalars(select(SmsMessage).where(SmsMessage.to_phone == phone)
                                .order_by(SmsMessage.id)))


@pytest.mark.parametrize(("language", "words"), [
    ("en", "the insurance has paid the loan in full"), ("sw", "bima imelipa mkopo wote")])
def test_a_loan_settled_by_a_claim_says_so_not_congratulations(insured, language,
                                                                words) -> None:
    loan = insured.covered_loan(100_000)
    loan.borrower.language = language
    insured.capital(500_000)
    claim = claims.file_claim(
        insured.session, policy_id=insured.policy_of(loan).id, cause="death", event_date=DAY,
        filed_by="partner:7", channel="api", idempotency_key=f"claim-{language}")
    claims.approve_claim(insured.session, claim.id, actor="ops@mkopo.test")
    insured.settle()
    messages = borrower_sms(insured.session, loan.borrower.phone)
    templates = [m.template for m in messages]
    assert "loan_repaid" not in templates
    (settled,) = [m for m in messages if m.template == "loan_settled_by_claim"]
    assert loan.reference in settled.body and words in settled.body
    assert settled.segments == 1


def test_a_loan_repaid_by_her_own_payment_is_still_congratulated(insured) -> None:
    loan = insured.covered_loan(100_000)
    record_repayment(insured.session, loan_id=loan.id, amount=104_000, key="own-money",
                     source="manual")
    insured.settle()
    templates = [m.template for m in borrower_sms(insured.session, loan.borrower.phone)]
    assert "loan_repaid" in templates and "loan_settled_by_claim" not in templates
