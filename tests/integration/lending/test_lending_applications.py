"""Applications: validation, limits, one loan at a time, idempotency, review."""

from datetime import timedelta

import pytest

import ledger
from ledger import lender_wallet, loan_participation
from lending import applications
from lending.applications import apply_for_loan, approve_loan, cancel_loan, reject_loan
from lending.errors import LendingError
from lending.funding import fund_loan
from lending.lifecycle import history


def apply(lending, member, product, key="app-1", **overrides):
    values = {"member_id": member.id, "product_code": product.code, "amount": 100_000,
              "term": 4, "purpose": "school fees", "idempotency_key": key, **overrides}
    return apply_for_loan(lending.session, **values)


def test_an_application_stores_the_quote_and_schedule_preview(lending, clock) -> None:
    product = lending.product(upfront_fee_percent="2")
    member = lending.member()
    loan = apply(lending, member, product)
    assert loan.status == "pending_review"
    assert len(loan.reference) == 7 and loan.reference.startswith("MK")
    assert not set(loan.reference[2:]) & set("01OIL")
    assert (loan.amount, loan.upfront_fee, loan.net_disbursed, loan.total_repayable) == (
        100_000, 2_000, 98_000, 104_000)
    assert loan.apr == "246.8"
    rows = [(r.number, r.due_date.isoformat(), r.principal, r.interest) for r in loan.installments]
    assert rows == [(1, "2026-03-09", 25_000, 1_000), (2, "2026-03-16", 25_000, 1_000),
                    (3, "2026-03-23", 25_000, 1_000), (4, "2026-03-30", 25_000, 1_000)]
    assert loan.field_partner_id == member.field_partner_id


def test_the_same_key_returns_the_same_loan_and_another_request_conflicts(lending) -> None:
    product, member = lending.product(), lending.member()
    first = apply(lending, member, product)
    assert apply(lending, member, product).id == first.id
    with pytest.raises(LendingError, match="key_conflict"):
        apply(lending, member, product, amount=150_000)


@pytest.mark.parametrize(("overrides", "code"), [
    ({"amount": 10_000}, "invalid_amount"),
    ({"term": 5}, "invalid_term"),
    ({"product_code": "NOPE"}, "unknown_product"),
    ({"amount": 250_000}, "over_credit_limit"),
    ({"purpose": ""}, "invalid_purpose"),
    ({"idempotency_key": ""}, "invalid_key"),
])
def test_bad_applications_are_refused(lending, overrides, code) -> None:
    with pytest.raises(LendingError) as excinfo:
        apply(lending, lending.member(), lending.product(), **overrides)
    assert excinfo.value.code == code


def test_an_unverified_member_cannot_apply(lending) -> None:
    with pytest.raises(LendingError, match="not_verified"):
        apply(lending, lending.member(verified=False), lending.product())


def test_a_closed_product_takes_no_applications(lending) -> None:
    product = lending.product()
    product.active = False
    with pytest.raises(LendingError, match="product_inactive"):
        apply(lending, lending.member(), product)


def test_one_open_loan_at_a_time_unless_the_product_allows_more(lending) -> None:
    member = lending.member(limit=1_000_000)
    single, multi = lending.product(), lending.product(max_active_loans=2)
    apply(lending, member, single, key="a")
    with pytest.raises(LendingError, match="active_loan_exists"):
        apply(lending, member, single, key="b")
    apply(lending, member, multi, key="c")
    with pytest.raises(LendingError, match="active_loan_exists"):
        apply(lending, member, multi, key="d")


def test_open_loans_together_stay_within_the_limit(lending) -> None:
    member = lending.member()  # KES 2,000
    product = lending.product(max_active_loans=3)
    apply(lending, member, product, key="a", amount=150_000)
    with pytest.raises(LendingError, match="over_credit_limit"):
        apply(lending, member, product, key="b", amount=60_000)
    apply(lending, member, product, key="c", amount=50_000)


def test_affordability_checks_can_refuse(lending, monkeypatch) -> None:
    def too_much(session, member, product, offer):
        return "installment above a third of income" if offer.amount > 60_000 else None

    monkeypatch.setattr(applications, "AFFORDABILITY_CHECKS", [too_much])
    with pytest.raises(LendingError) as excinfo:
        apply(lending, lending.member(), lending.product())
    assert (excinfo.value.code, excinfo.value.message) == (
        "unaffordable", "installment above a third of income")


def test_approval_opens_fundraising_for_the_funding_window(lending, clock) -> None:
    loan = lending.application(product=lending.product(funding_window_days=10))
    approve_loan(lending.session, loan.id, actor="officer")
    assert loan.status == "fundraising"
    assert loan.fundraising_deadline == clock.now() + timedelta(days=10)
    moves = [(t.from_status, t.to_status, t.actor) for t in history(lending.session, loan.id)]
    assert moves == [("pending_review", "approved", "officer"),
                     ("approved", "fundraising", "officer")]


def test_rejection_needs_a_reason_and_is_final(lending) -> None:
    loan = lending.application()
    with pytest.raises(LendingError, match="reason_required"):
        reject_loan(lending.session, loan.id, actor="officer", reason=" ")
    reject_loan(lending.session, loan.id, actor="officer", reason="no business yet")
    assert loan.status == "rejected"
    with pytest.raises(LendingError, match="illegal_transition"):
        approve_loan(lending.session, loan.id, actor="officer")


def test_cancelling_during_fundraising_refunds_the_lenders(lending) -> None:
    loan = lending.fundraising(amount=100_000)
    lender = lending.lender(wallet=30_000)
    fund_loan(lending.session, loan_id=loan.id, lender_id=lender.id, shares=3,
              idempotency_key="f1")
    cancel_loan(lending.session, loan.id, actor="borrower", reason="changed my mind")
    assert loan.status == "cancelled"
    assert ledger.balance(lending.session, lender_wallet(lender.id)) == 30_000
    assert ledger.balance(lending.session, loan_participation(loan.id)) == 0
    assert ledger.verify(lending.session).ok
