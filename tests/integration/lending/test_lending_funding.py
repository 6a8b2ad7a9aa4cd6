"""Funding in shares: wallets to participation, never overfunded, expiry and flexible mode."""

from datetime import timedelta

import pytest
from sqlalchemy import select

import ledger
from core.outbox import OutboxItem
from ledger import lender_wallet, loan_participation
from lending.errors import LendingError
from lending.funding import expire_fundraising, fund_loan, remaining_amount, shares_left


def fund(lending, loan, lender, shares, key):
    return fund_loan(lending.session, loan_id=loan.id, lender_id=lender.id, shares=shares,
                     idempotency_key=key)


def disburse_items(session, loan):
    return session.scalars(select(OutboxItem).where(OutboxItem.key == f"disburse:{loan.id}")).all()


def test_funding_moves_wallet_money_into_the_loan(lending) -> None:
    loan = lending.fundraising(amount=100_000)
    lender = lending.lender(wallet=50_000)
    funding = fund(lending, loan, lender, 3, "f-1")
    assert (funding.shares, funding.amount) == (3, 30_000)
    assert (loan.funded_amount, remaining_amount(loan), shares_left(loan)) == (30_000, 70_000, 7)
    assert ledger.balance(lending.session, lender_wallet(lender.id)) == 20_000
    assert ledger.balance(lending.session, loan_participation(loan.id)) == 30_000
    assert loan.status == "fundraising" and disburse_items(lending.session, loan) == []


def test_the_same_key_funds_once(lending) -> None:
    loan = lending.fundraising(amount=100_000)
    lender = lending.lender(wallet=50_000)
    first = fund(lending, loan, lender, 2, "f-dup")
    assert fund(lending, loan, lender, 2, "f-dup").id == first.id
    assert loan.funded_amount == 20_000
    with pytest.raises(LendingError, match="key_conflict"):
        fund(lending, loan, lender, 3, "f-dup")


def test_full_funding_marks_the_loan_funded_and_asks_for_disbursement(lending) -> None:
    loan = lending.fundraising(amount=100_000)
    fund(lending, loan, lending.lender(wallet=60_000), 6, "a")
    fund(lending, loan, lending.lender(wallet=40_000), 4, "b")
    assert loan.status == "funded"
    (item,) = disburse_items(lending.session, loan)
    assert (item.kind, item.queue, item.payload) == ("loan.disburse", "payments",
                                                     {"loan_id": loan.id})


def test_a_loan_is_never_overfunded(lending) -> None:
    loan = lending.fundraising(amount=100_000)
    fund(lending, loan, lending.lender(wallet=90_000), 9, "a")
    greedy = lending.lender(wallet=50_000)
    with pytest.raises(LendingError, match="overfunded"):
        fund(lending, loan, greedy, 2, "b")
    assert loan.funded_amount == 90_000
    assert ledger.balance(lending.session, lender_wallet(greedy.id)) == 50_000
    fund(lending, loan, greedy, 1, "c")
    with pytest.raises(LendingError, match="not_fundraising"):
        fund(lending, loan, greedy, 1, "d")
    assert ledger.balance(lending.session, loan_participation(loan.id)) == 100_000


def test_the_last_share_may_be_a_partial_one(lending) -> None:
    loan = lending.fundraising(amount=125_050)
    assert shares_left(loan) == 13
    fund(lending, loan, lending.lender(wallet=120_000), 12, "a")
    last = fund(lending, loan, lending.lender(wallet=10_000), 1, "b")
    assert last.amount == 5_050 and loan.status == "funded"


@pytest.mark.parametrize(("case", "code"), [
    ("own", "own_loan"), ("not_lender", "not_a_lender"), ("poor", "insufficient_funds"),
    ("zero", "invalid_shares"), ("late", "fundraising_closed"),
])
def test_funding_refusals(lending, clock, case, code) -> None:
    loan = lending.fundraising(amount=100_000)
    lender = lending.lender(wallet=10_000)
    if case == "own":
        lender = loan.borrower
        lender.is_lender = True
    if case == "not_lender":
        lender = lending.member()
    if case == "late":
        clock.advance(days=15)
    with pytest.raises(LendingError) as excinfo:
        fund(lending, loan, lender, 0 if case == "zero" else 2 if case == "poor" else 1, "x")
    assert excinfo.value.code == code
    assert loan.funded_amount == 0
    assert ledger.verify(lending.session).ok


def test_an_all_or_nothing_loan_that_expires_refunds_everyone(lending, clock) -> None:
    loan = lending.fundraising(amount=100_000)
    a, b = lending.lender(wallet=30_000), lending.lender(wallet=20_000)
    fund(lending, loan, a, 3, "a")
    fund(lending, loan, b, 2, "b")
    assert expire_fundraising(lending.session, clock.now()) == 0  # not yet
    clock.advance(days=14)
    assert expire_fundraising(lending.session, clock.now()) == 1
    assert loan.status == "expired"
    assert ledger.balance(lending.session, lender_wallet(a.id)) == 30_000
    assert ledger.balance(lending.session, lender_wallet(b.id)) == 20_000
    assert ledger.balance(lending.session, loan_participation(loan.id)) == 0
    assert all(f.refunded_at is not None for f in loan.fundings)
    assert expire_fundraising(lending.session, clock.now() + timedelta(days=1)) == 0
    assert ledger.verify(lending.session).ok


def test_a_flexible_loan_keeps_what_was_raised_above_the_minimum(lending, clock) -> None:
    product = lending.product(funding_mode="flexible", min_amount=50_000)
    loan = lending.fundraising(amount=200_000, product=product)
    fund(lending, loan, lending.lender(wallet=80_000), 8, "a")
    clock.advance(days=14, seconds=1)
    assert expire_fundraising(lending.session) == 1
    assert (loan.status, loan.amount, loan.funded_amount) == ("funded", 80_000, 80_000)
    assert loan.total_repayable == 83_200  # 80,000 + 4% flat
    assert sum(r.principal for r in loan.installments) == 80_000
    assert len(disburse_items(lending.session, loan)) == 1


def test_a_flexible_loan_below_the_minimum_expires_with_refunds(lending, clock) -> None:
    product = lending.product(funding_mode="flexible", min_amount=100_000)
    loan = lending.fundraising(amount=200_000, product=product)
    lender = lending.lender(wallet=80_000)
    fund(lending, loan, lender, 8, "a")
    clock.advance(days=15)
    expire_fundraising(lending.session)
    assert loan.status == "expired"
    assert ledger.balance(lending.session, lender_wallet(lender.id)) == 80_000
