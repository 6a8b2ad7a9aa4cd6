"""Races on PostgreSQL: a claim decided by two operators at once is paid once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import func, select

import ledger
from insurance import claims
from insurance.accounts import INSURANCE_POOL
from insurance.errors import InsuranceError
from lending.models import Loan, Repayment
from payments.models import PaymentIntent

from support.races import outcomes, race_in_transactions

pytestmark = pytest.mark.postgres

DAY = date(2026, 3, 2)


def race(db, calls: list[Callable]) -> list[str]:
    """Each call in its own transaction, all released at once: 'ok' or the refusal's code."""
    return outcomes(race_in_transactions(db, *calls), InsuranceError)


def approve(claim_id: int, actor: str) -> Callable:
    return lambda s: claims.approve_claim(s, claim_id, actor=actor)


def test_a_credit_life_claim_approved_twice_at_once_settles_the_loan_once(
        committed_insured, committed_db) -> None:
    insured = committed_insured
    loan = insured.covered_loan(100_000, lenders=2)
    insured.capital(500_000)
    claim = claims.file_claim(insured.session, policy_id=insured.policy_of(loan).id,
                              cause="death", event_date=DAY, filed_by="partner:1",
                              channel="api", idempotency_key="race-1")
    insured.session.commit()
    loan_id, claim_id = loan.id, claim.id

    assert race(committed_db, [approve(claim_id, "a@ops"), approve(claim_id, "b@ops"),
                               approve(claim_id, "c@ops")]) == ["ok", "ok", "ok"]
    with committed_db.transaction() as s:
        assert s.scalar(select(func.count(Repayment.id)).where(
            Repayment.loan_id == loan_id)) == 1
        assert s.get(Loan, loan_id).status == "repaid"
        assert ledger.balance(s, INSURANCE_POOL) == 501_500 - 104_000
        assert ledger.verify(s).ok and ledger.trial_balance(s).balanced


def test_two_claims_racing_for_a_small_pool_never_overdraw_it(committed_insured,
                                                               committed_db) -> None:
    insured = committed_insured
    first, second = insured.covered_loan(100_000), insured.covered_loan(100_000)
    insured.capital(104_000)  # with the two premiums: enough for one settlement, not two
    ids = [claims.file_claim(insured.session, policy_id=insured.policy_of(loan).id,
                             cause="death", event_date=DAY, filed_by="partner:1",
                             channel="api", idempotency_key=f"pool-{loan.id}").id
           for loan in (first, second)]
    insured.session.commit()

    assert race(committed_db, [approve(ids[0], "a@ops"), approve(ids[1], "b@ops")]) == [
        "ok", "pool_insufficient"]
    with committed_db.transaction() as s:
        assert ledger.balance(s, INSURANCE_POOL) == 107_000 - 104_000
        assert ledger.verify(s).ok


def test_a_hospital_claim_approved_twice_at_once_orders_one_payout(committed_insured,
                                                                    committed_db) -> None:
    insured = committed_insured
    policy = insured.hospital_cash()
    insured.capital(1_000_000)
    claim = claims.file_claim(insured.session, policy_id=policy.id, cause="hospital",
                              event_date=DAY, nights=2, filed_by="member:1", channel="ussd",
                              idempotency_key="race-h")
    insured.session.commit()

    assert race(committed_db, [approve(claim.id, "a@ops"), approve(claim.id, "b@ops")]) == [
        "ok", "ok"]
    insured.worker.run()
    with committed_db.transaction() as s:
        payouts = s.scalars(select(PaymentIntent).where(
            PaymentIntent.kind == "bima_claim")).all()
        assert [(p.amount, p.status) for p in payouts] == [(100_000, "succeeded")]
        assert ledger.balance(s, INSURANCE_POOL) == 1_015_000 - 100_000
        assert ledger.verify(s).ok and ledger.trial_balance(s).balanced
