"""Property: whatever was repaid before, a paid claim leaves lenders whole and books exact."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from core.money import allocate
from insurance import capital, claims
from insurance.accounts import INSURANCE_POOL
from insurance.models import Policy
from ledger import (
    MOBILE_MONEY_FLOAT,
    borrower_credit,
    credit,
    debit,
    lender_wallet,
    loan_participation,
    loan_principal,
)
from lending import members
from lending.applications import apply_for_loan, approve_loan
from lending.catalog import create_product
from lending.disbursement import complete_disbursement, start_disbursement
from lending.errors import LendingError
from lending.funding import fund_loan
from lending.loans import outstanding_balance
from lending.models import FieldPartner
from lending.protection import set_credit_limit
from lending.repayments import record_repayment

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
_serial = itertools.count(1)

scenario = st.fixed_dictionaries({
    "amount": st.integers(50_000, 400_000),
    "term": st.sampled_from([4, 8]),
    "method": st.sampled_from(["flat", "declining"]),
    "weights": st.lists(st.integers(1, 9), min_size=1, max_size=4),
    "premium": st.sampled_from(["0.5", "1.5", "3", "2.75"]),
    "share": st.sampled_from(["20", "0", "33.3"]),
    "payments": st.lists(st.tuples(st.integers(1, 90_000), st.integers(0, 20)), max_size=4),
    "cause": st.sampled_from(["death", "disability"]),
})


def covered_loan(session, setup):
    n = next(_serial)
    product = create_product(session, {
        "code": f"PROP{n}", "name": "Covered", "min_amount": 50_000, "max_amount": 1_000_000,
        "terms": [4, 8], "frequency": "weekly", "interest_method": setup["method"],
        "interest_rate": "52", "credit_life_premium_percent": setup["premium"],
        "share_unit": 7_777, "platform_interest_share_percent": setup["share"]})
    partner = FieldPartner(name=f"P{n}", region="Kisumu", risk_rating=2)
    session.add(partner)
    session.flush()

    def person(**extra):
        m = next(_serial)
        member = members.register_member(session, phone=f"+25479{m:07d}", first_name="Amani",
                                         national_id=f"PROP{m}", pin="4821", language="en",
                                         consent=True, **extra)
        members.verify_member(session, member.id, partner.id, "officer")
        return member

    borrower = person()
    set_credit_limit(session, borrower.id, 1_000_000, actor="test", reason="setup")
    loan = apply_for_loan(session, member_id=borrower.id, product_code=product.code,
                          amount=setup["amount"], term=setup["term"], purpose="stock",
                          idempotency_key=f"prop-app-{n}")
    approve_loan(session, loan.id, actor="officer")
    shares = -(-loan.amount // product.share_unit)
    weights = setup["weights"][:shares]
    counts = [1 + part for part in allocate(shares - len(weights), list(weights))]
    for count in counts:
        lender = person()
        members.become_lender(session, lender.id)
        ledger.post(session, f"prop-deposit:{lender.id}", "deposit",
                    [debit(MOBILE_MONEY_FLOAT, count * product.share_unit),
                     credit(lender_wallet(lender.id), count * product.share_unit)])
        fund_loan(session, loan_id=loan.id, lender_id=lender.id, shares=count,
                  idempotency_key=f"prop-fund-{lender.id}")
    start_disbursement(session, loan.id, actor="payments")
    return complete_disbursement(session, loan.id, receipt=f"PROP{n}", occurred_at=START)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(setup=scenario)
def test_a_paid_claim_leaves_lenders_whole_and_the_trial_balance_zero(session, clock,
                                                                      setup) -> None:
    outer = session.begin_nested()
    loan = covered_loan(session, setup)
    wallets_before = {s.lender_id: ledger.balance(session, lender_wallet(s.lender_id))
                      for s in loan.fundings}
    day = START
    for n, (amount, advance) in enumerate(setup["payments"]):
        day += timedelta(days=advance)
        try:
            with session.begin_nested():
                record_repayment(session, loan_id=loan.id, amount=amount, key=f"prop-{n}",
                                 source="c2b", received_at=day)
        except LendingError as exc:
            assert exc.code == "not_repayable"  # repaid in full already
    capital.commit_capital(session, amount=2_000_000, actor="test", key="prop-capital")
    policy = session.query(Policy).filter_by(loan_id=loan.id).one()
    owed, pool = outstanding_balance(loan), ledger.balance(session, INSURANCE_POOL)
    credit_before = ledger.balance(session, borrower_credit(loan.borrower_id))

    if loan.status == "repaid":  # nothing left to cover: the claim is refused up front
        assert owed == 0
    else:
        claim = claims.file_claim(session, policy_id=policy.id, cause=setup["cause"],
                                  event_date=min(day.date(), date(2026, 3, 2)),
                                  filed_by="partner:1", channel="api",
                                  idempotency_key=f"prop-claim-{loan.id}")
        claims.approve_claim(session, claim.id, actor="ops@mkopo.test")
        assert claim.amount == owed
        assert ledger.balance(session, INSURANCE_POOL) == pool - owed
        assert loan.status == "repaid"

    for stake in loan.fundings:  # every lender has their whole principal back
        assert stake.principal_outstanding == 0 and stake.principal_repaid == stake.amount
        assert ledger.balance(session, lender_wallet(stake.lender_id)) == (
            wallets_before[stake.lender_id] + stake.amount + stake.interest_earned)
    assert ledger.balance(session, loan_principal(loan.id)) == 0
    assert ledger.balance(session, loan_participation(loan.id)) == 0
    assert ledger.balance(session, borrower_credit(loan.borrower_id)) == credit_before
    assert ledger.verify(session).ok and ledger.trial_balance(session).balanced
    outer.rollback()
    session.expunge_all()
