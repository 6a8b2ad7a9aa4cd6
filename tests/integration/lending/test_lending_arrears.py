"""Arrears: days past due, buckets, penalties (idempotent, capped, never stacked), in-duplum."""

from datetime import UTC, date, datetime, timedelta

import pytest

import ledger
from ledger import PENALTY_INCOME, loan_penalties
from lending.arrears import apply_penalties, bucket, in_arrears, mark_defaults
from lending.jobs import run_daily
from lending.loans import days_past_due, principal_outstanding
from lending.repayments import record_repayment

DAILY = {"penalty_kind": "daily", "penalty_percent": "1", "penalty_cap_percent": "10"}
MONTHLY = {"frequency": "monthly", "terms": [12]}


def days(start: date, stop: date):
    while start <= stop:
        yield start
        start += timedelta(days=1)


@pytest.mark.parametrize(("dpd", "name"), [
    (0, "current"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"),
    (90, "61-90"), (91, "90+"), (400, "90+"),
])
def test_delinquency_buckets(dpd, name) -> None:
    assert bucket(dpd) == name


def test_days_past_due_counts_from_the_oldest_unpaid_installment(lending) -> None:
    loan = lending.active()  # due 9, 16, 23, 30 March
    assert days_past_due(loan, date(2026, 3, 9)) == 0
    assert days_past_due(loan, date(2026, 3, 20)) == 11
    assert in_arrears(loan, date(2026, 3, 10)) and not in_arrears(loan, date(2026, 3, 9))
    loan.installments[0].principal_paid = 25_000
    loan.installments[0].interest_paid = 1_000
    assert days_past_due(loan, date(2026, 3, 20)) == 4


def test_daily_penalties_are_charged_once_a_day_up_to_the_cap(lending) -> None:
    loan = lending.active(product=lending.product(**DAILY))
    s = lending.session
    assert apply_penalties(s, date(2026, 3, 9)) == 0  # due today: not late yet
    assert apply_penalties(s, date(2026, 3, 10)) == 1
    assert apply_penalties(s, date(2026, 3, 10)) == 0  # the same day again: nothing
    first = loan.installments[0]
    assert first.penalty_charged == 260  # 1% of 26,000
    for day in days(date(2026, 3, 11), date(2026, 3, 25)):
        apply_penalties(s, day)
    # capped at 10% of the installment; installment 2 (late since 17 March) has 9 days
    assert [row.penalty_charged for row in loan.installments] == [2_600, 2_340, 520, 0]
    assert ledger.balance(s, loan_penalties(loan.id)) == 5_460
    assert ledger.balance(s, PENALTY_INCOME) == 5_460
    assert ledger.verify(s).ok


def test_penalties_never_stack_on_penalties_and_follow_the_overdue_amount(lending) -> None:
    loan = lending.active(product=lending.product(**DAILY))
    s = lending.session
    apply_penalties(s, date(2026, 3, 10))
    record_repayment(s, loan_id=loan.id, amount=13_000, key="part", source="c2b",
                     received_at=lending_time(date(2026, 3, 10)))
    first = loan.installments[0]
    assert (first.penalty_paid, first.interest_paid, first.principal_paid) == (260, 1_000, 11_740)
    apply_penalties(s, date(2026, 3, 11))
    assert first.penalty_charged == 260 + 133  # 1% of the 13,260 still overdue, not of penalties


def test_a_one_time_penalty_is_charged_once_per_installment(lending) -> None:
    product = lending.product(penalty_kind="one_time", penalty_percent="5")
    loan = lending.active(product=product)
    for day in days(date(2026, 3, 10), date(2026, 3, 20)):
        apply_penalties(lending.session, day)
    assert [row.penalty_charged for row in loan.installments] == [1_300, 1_300, 0, 0]


def test_products_without_penalties_charge_none(lending) -> None:
    lending.active()
    assert apply_penalties(lending.session, date(2026, 4, 30)) == 0


def test_in_duplum_trims_interest_not_yet_due_to_the_principal(lending) -> None:
    product = lending.product(interest_rate="200", **MONTHLY, **DAILY)
    loan = lending.active(product=product, term=12)  # due on the 2nd of each month
    s = lending.session
    assert apply_penalties(s, date(2026, 7, 1)) == 3  # 90 days late: still performing
    assert loan.nonperforming_since is None
    apply_penalties(s, date(2026, 7, 2))  # 91 days: non-performing
    assert (loan.nonperforming_since, loan.in_duplum_cap) == (date(2026, 7, 2), 100_000)
    future = [row.interest for row in loan.installments if row.due_date >= date(2026, 7, 2)]
    assert future == [16_666] * 6 + [4, 0, 0]
    assert sum(future) == loan.in_duplum_charged == 100_000
    charged = sum(row.penalty_charged for row in loan.installments)
    for day in days(date(2026, 7, 3), date(2026, 8, 30)):
        apply_penalties(s, day)
    # nothing more may be charged: interest still to fall due already takes the whole cap
    assert sum(row.penalty_charged for row in loan.installments) == charged
    assert ledger.verify(s).ok


def test_in_duplum_caps_penalties_charged_after_non_performance(lending) -> None:
    product = lending.product(overpayment="prepay", penalty_kind="daily", penalty_percent="10",
                              penalty_cap_percent="100")
    loan = lending.active(product=product)
    s = lending.session
    record_repayment(s, loan_id=loan.id, amount=100_000, key="most", source="c2b")
    assert principal_outstanding(loan) == 4_000  # installment 4, due 30 March
    apply_penalties(s, date(2026, 6, 29))  # 91 days late
    assert (loan.in_duplum_cap, loan.in_duplum_charged) == (4_000, 400)
    for day in days(date(2026, 6, 30), date(2026, 7, 30)):
        apply_penalties(s, day)
    assert loan.installments[3].penalty_charged == loan.in_duplum_charged == 4_000


def test_more_than_ninety_days_late_is_a_default_and_clearing_arrears_cures(lending) -> None:
    loan = lending.active(product=lending.product(interest_rate="24", **MONTHLY), term=12)
    s = lending.session
    borrower = loan.borrower
    assert mark_defaults(s, date(2026, 7, 1)) == 0
    assert mark_defaults(s, date(2026, 7, 2)) == 1
    assert mark_defaults(s, date(2026, 7, 3)) == 0
    assert (loan.status, borrower.credit_limit) == ("defaulted", 0)
    overdue = sum(row.outstanding for row in loan.installments[:3])
    record_repayment(s, loan_id=loan.id, amount=overdue, key="cure", source="c2b",
                     received_at=lending_time(date(2026, 7, 2)))
    assert loan.status == "active"


def test_the_daily_job_runs_every_step(lending, clock) -> None:
    loan = lending.active(product=lending.product(**DAILY))
    raising = lending.fundraising()
    lending.session.flush()
    clock.advance(days=20)
    counts = run_daily()
    assert counts == {"expired": 1, "credit_applied": 0, "defaulted": 0, "penalties": 2}
    lending.session.expire_all()  # the job worked in its own session
    assert raising.status == "expired"
    assert [row.penalty_charged for row in loan.installments][:2] == [260, 260]


def lending_time(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
