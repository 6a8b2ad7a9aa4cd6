"""Repayments: allocation order, exact pro-rata distribution, overpayment, idempotency."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

import ledger
from ledger import (
    INTEREST_INCOME,
    MOBILE_MONEY_FLOAT,
    JournalEntry,
    borrower_credit,
    lender_wallet,
    loan_participation,
    loan_principal,
)
from lending.errors import LendingError
from lending.repayments import (
    Owed,
    allocate_payment,
    apply_credit_balances,
    record_repayment,
)

# Two installments past due on 17 March (one with a penalty), one current, one future.
OWED = [
    Owed(1, date(2026, 3, 9), penalty=1_300, interest=1_000, principal=25_000),
    Owed(2, date(2026, 3, 16), interest=1_000, principal=25_000),
    Owed(3, date(2026, 3, 23), interest=1_000, principal=25_000),
    Owed(4, date(2026, 3, 30), interest=1_000, principal=25_000),
]
TODAY = date(2026, 3, 17)


@pytest.mark.parametrize(("amount", "prepay", "lines", "over"), [
    (500, False, [(1, 500, 0, 0, 0)], 0),
    (7_300, False, [(1, 1_300, 0, 1_000, 5_000)], 0),
    (27_300, False, [(1, 1_300, 0, 1_000, 25_000)], 0),
    (30_000, False, [(1, 1_300, 0, 1_000, 25_000), (2, 0, 0, 1_000, 1_700)], 0),
    (79_300, False, [(1, 1_300, 0, 1_000, 25_000), (2, 0, 0, 1_000, 25_000),
                     (3, 0, 0, 1_000, 25_000)], 0),
    (85_000, False, [(1, 1_300, 0, 1_000, 25_000), (2, 0, 0, 1_000, 25_000),
                     (3, 0, 0, 1_000, 25_000)], 5_700),
    (85_000, True, [(1, 1_300, 0, 1_000, 25_000), (2, 0, 0, 1_000, 25_000),
                    (3, 0, 0, 1_000, 25_000), (4, 0, 0, 1_000, 4_700)], 0),
    # a payment that settles the whole loan always does, whatever the policy
    (105_300, False, [(1, 1_300, 0, 1_000, 25_000), (2, 0, 0, 1_000, 25_000),
                      (3, 0, 0, 1_000, 25_000), (4, 0, 0, 1_000, 25_000)], 0),
    (110_000, True, [(1, 1_300, 0, 1_000, 25_000), (2, 0, 0, 1_000, 25_000),
                     (3, 0, 0, 1_000, 25_000), (4, 0, 0, 1_000, 25_000)], 4_700),
])
def test_allocation_order(amount, prepay, lines, over) -> None:
    result = allocate_payment(OWED, amount, TODAY, prepay=prepay)
    got = [(ln.number, ln.penalty, ln.fee, ln.interest, ln.principal) for ln in result.lines]
    assert (got, result.overpayment) == (lines, over)
    assert result.penalty + result.fees + result.interest + result.principal + over == amount


def test_nothing_late_pays_the_current_installment_first() -> None:
    result = allocate_payment(OWED[1:], 10_000, date(2026, 3, 10), prepay=False)
    assert [(ln.number, ln.interest, ln.principal) for ln in result.lines] == [(2, 1_000, 9_000)]


def pay(lending, loan, amount, key, **kwargs):
    return record_repayment(lending.session, loan_id=loan.id, amount=amount, key=key,
                            source=kwargs.pop("source", "c2b"), **kwargs)


def test_three_lenders_with_awkward_shares_are_paid_exactly(lending, clock) -> None:
    product = lending.product(share_unit=3_333)
    loan = lending.active(weights=(7, 11, 13), product=product)
    stakes = sorted(loan.fundings, key=lambda f: f.id)
    assert [f.amount for f in stakes] == [23_331, 36_663, 40_006]
    result = pay(lending, loan, 26_000, "r-1", receipt="QA1")
    entry = result.repayment.journal_entry
    assert entry.meta["receipt"] == "QA1" and entry.member_id == loan.borrower_id
    assert [(x["interest"], x["principal"]) for x in entry.meta["lenders"]] == [
        (187, 5_833), (293, 9_166), (320, 10_001)]
    assert entry.meta["platform_interest"] == 200
    postings = {p.account.code: p.amount for p in entry.postings}
    assert postings == {
        MOBILE_MONEY_FLOAT.code: 26_000, INTEREST_INCOME.code: -200,
        lender_wallet(stakes[0].lender_id).code: -(187 + 5_833),
        lender_wallet(stakes[1].lender_id).code: -(293 + 9_166),
        lender_wallet(stakes[2].lender_id).code: -(320 + 10_001),
        loan_participation(loan.id).code: 25_000, loan_principal(loan.id).code: -25_000}
    for n, due in enumerate([9, 16, 23], start=2):
        clock.set(clock.now().replace(day=due))
        pay(lending, loan, 26_000, f"r-{n}")
    assert loan.status == "repaid"
    # every stake got back exactly what it lent, and the interest adds up to the cent
    assert [f.principal_repaid for f in stakes] == [23_331, 36_663, 40_006]
    assert sum(f.interest_earned for f in stakes) + 800 == 4_000
    assert ledger.balance(lending.session, loan_participation(loan.id)) == 0
    assert ledger.balance(lending.session, loan_principal(loan.id)) == 0
    assert ledger.verify(lending.session).ok


def test_repaying_on_time_closes_the_loan_and_grows_the_limit(lending, clock) -> None:
    loan = lending.active()
    borrower = loan.borrower
    start = clock.now()
    results = []
    for week in range(1, 5):
        clock.set(start + timedelta(weeks=week))
        results.append(pay(lending, loan, 26_000, f"w-{week}"))
    assert [r.remaining_balance for r in results] == [78_000, 52_000, 26_000, 0]
    assert results[0].next_due == (date(2026, 3, 16), 26_000)
    assert results[-1].repaid and results[-1].next_due is None
    assert (loan.status, borrower.credit_limit) == ("repaid", 300_000)
    with pytest.raises(LendingError, match="not_repayable"):
        pay(lending, loan, 100, "after")


def test_the_same_key_is_applied_once_and_a_different_amount_conflicts(lending) -> None:
    loan = lending.active()
    first = pay(lending, loan, 10_000, "dup")
    again = pay(lending, loan, 10_000, "dup")
    assert again.repayment.id == first.repayment.id
    assert (again.allocation, again.remaining_balance, again.next_due) == (
        first.allocation, first.remaining_balance, first.next_due)
    entries = lending.session.scalar(select(func.count(JournalEntry.id))
                                     .where(JournalEntry.key == "repayment:dup"))
    assert entries == 1 and loan.installments[0].principal_paid == 9_000
    with pytest.raises(LendingError, match="key_conflict"):
        pay(lending, loan, 10_001, "dup")


def test_an_overpayment_is_held_as_credit_and_spent_when_due(lending, clock) -> None:
    loan = lending.active()
    result = pay(lending, loan, 40_000, "early")  # on disbursement day: installment 1 is current
    assert (result.allocation.principal, result.overpayment) == (25_000, 14_000)
    assert ledger.balance(lending.session, borrower_credit(loan.borrower_id)) == 14_000
    assert apply_credit_balances(lending.session, date(2026, 3, 9)) == 0  # nothing due yet
    assert apply_credit_balances(lending.session, date(2026, 3, 16)) == 1
    assert apply_credit_balances(lending.session, date(2026, 3, 16)) == 0
    second = loan.installments[1]
    assert (second.interest_paid, second.principal_paid) == (1_000, 13_000)
    assert ledger.balance(lending.session, borrower_credit(loan.borrower_id)) == 0
    assert ledger.verify(lending.session).ok


def test_a_prepay_product_puts_the_excess_on_future_installments(lending) -> None:
    loan = lending.active(product=lending.product(overpayment="prepay"))
    result = pay(lending, loan, 40_000, "early")
    assert result.overpayment == 0
    second = loan.installments[1]
    assert (second.interest_paid, second.principal_paid) == (1_000, 13_000)


def test_paying_more_than_everything_closes_the_loan_with_credit(lending) -> None:
    loan = lending.active()
    result = pay(lending, loan, 110_000, "all")
    assert (result.repaid, result.overpayment, loan.status) == (True, 6_000, "repaid")
    assert ledger.balance(lending.session, borrower_credit(loan.borrower_id)) == 6_000
    assert ledger.verify(lending.session).ok


@pytest.mark.parametrize(("amount", "source", "code"), [
    (0, "c2b", "invalid_amount"), (-5, "c2b", "invalid_amount"),
    (100, "cash", "invalid_source"),
])
def test_bad_repayments_are_refused(lending, amount, source, code) -> None:
    loan = lending.active()
    with pytest.raises(LendingError) as excinfo:
        pay(lending, loan, amount, "bad", source=source)
    assert excinfo.value.code == code


def test_a_loan_not_yet_paid_out_takes_no_repayment(lending) -> None:
    loan = lending.funded()
    with pytest.raises(LendingError, match="not_repayable"):
        pay(lending, loan, 1_000, "early-bird")
