"""Monthly interest and the credit-limit rule for regular saving, through the real domain."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
from sqlalchemy import func, select

import ledger
from ledger import JournalEntry
from lending.models import LimitChange, Member
from lending.protection import SAVING_CAP, saver_limit
from savings import interest, regularity
from savings.chart import SAVINGS_INTEREST_EXPENSE
from savings.jobs import run_daily
from savings.products import DEFAULT_RATE_BP

KES = 100


def interest_entries(session, account_id: int) -> list[JournalEntry]:
    return list(session.scalars(select(JournalEntry).where(
        JournalEntry.key.like(f"savings-interest:{account_id}:%")).order_by(JournalEntry.id)))


def test_march_interest_is_the_daily_balances_at_the_product_rate(savers, clock) -> None:
    saver = savers.member()
    savers.deposit(saver, 10_000 * KES)  # 2 March, 09:00 in Nairobi
    account = savers.akiba(saver)
    balances = interest.closing_balances(savers.session, account.id, date(2026, 3, 1))
    assert balances == [0] + [10_000 * KES] * 30

    run = interest.credit_month(savers.session, date(2026, 3, 1), date(2026, 4, 1))

    # 30 days x KES 10,000 x 6% / 365 = KES 49.3150… -> 4,932 cents (half-even).
    exact = Fraction(30 * 10_000 * KES * DEFAULT_RATE_BP, 10_000 * 365)
    assert interest.monthly_interest(balances, DEFAULT_RATE_BP) == 4_932 == round(exact)
    assert (run.credited, run.total) == (1, 4_932)
    assert savers.balance(account) == 10_000 * KES + 4_932
    assert ledger.balance(savers.session, SAVINGS_INTEREST_EXPENSE) == 4_932
    savers.assert_sound()


def test_interest_is_credited_once_per_month_even_if_the_job_runs_twice(savers, clock) -> None:
    saver = savers.member()
    savers.deposit(saver, 5_000 * KES)
    clock.advance(days=31)  # 2 April
    first = run_daily()
    second = run_daily()
    account = savers.akiba(saver)
    assert (first["interest_credited"], second["interest_credited"]) == (1, 0)
    (entry,) = interest_entries(savers.session, account.id)
    assert entry.meta["month"] == "2026-03"
    savers.assert_sound()


def test_a_month_that_has_not_ended_is_not_credited(savers) -> None:
    with pytest.raises(ValueError):
        interest.credit_month(savers.session, date(2026, 3, 1), date(2026, 3, 31))


def test_interest_compounds_monthly_from_the_first_of_the_next_month(savers, clock) -> None:
    saver = savers.member()
    savers.deposit(saver, 10_000 * KES)
    account = savers.akiba(saver)
    interest.credit_month(savers.session, date(2026, 3, 1), date(2026, 4, 1))
    april = interest.closing_balances(savers.session, account.id, date(2026, 4, 1))
    assert set(april) == {10_000 * KES + 4_932}


def test_an_empty_account_earns_nothing_and_gets_no_entry(savers) -> None:
    saver = savers.member()
    account = savers.akiba(saver)
    run = interest.credit_month(savers.session, date(2026, 2, 1), date(2026, 3, 2))
    assert run.credited == 0 and interest_entries(savers.session, account.id) == []


# --- regular saving raises the credit limit --------------------------------------------------


def limit_of(session, member_id: int) -> int:
    session.expire_all()
    member = session.get(Member, member_id)
    assert member is not None
    return member.credit_limit


def save_monthly(savers, clock, saver, months: int, amount: int) -> None:
    """A deposit early in each of `months` consecutive months, starting this one."""
    for month in range(months):
        if month:
            clock.advance(days=31)
        savers.deposit(saver, amount)


def test_three_months_of_saving_raise_the_limit_once(savers, clock) -> None:
    saver = savers.member(limit=2_000 * KES)
    save_monthly(savers, clock, saver, 3, 500 * KES)  # March, April, May
    assert regularity.streak(savers.session, saver.id, date(2026, 5, 1)) == 3
    clock.advance(days=31)  # June: May has ended

    run_daily()
    run_daily()

    assert limit_of(savers.session, saver.id) == 2_500 * KES  # +10% is KES 2,200 -> KES 500 step
    assert savers.session.scalar(select(func.count(LimitChange.id)).where(
        LimitChange.member_id == saver.id,
        LimitChange.reason == "saved regularly 3 months to 2026-05")) == 1


def test_a_month_below_the_minimum_breaks_the_streak(savers, clock) -> None:
    saver = savers.member(limit=2_000 * KES)
    savers.deposit(saver, 500 * KES)  # March
    clock.advance(days=31)
    savers.deposit(saver, 500 * KES)  # April
    clock.advance(days=31)
    savers.deposit(saver, 100 * KES)  # May: below KES 500
    assert regularity.streak(savers.session, saver.id, date(2026, 5, 1)) == 0
    regularity.apply_month(savers.session, date(2026, 5, 1))
    assert limit_of(savers.session, saver.id) == 2_000 * KES


def test_saving_does_not_lift_a_limit_stopped_by_a_default(savers, clock) -> None:
    saver = savers.member(limit=0)
    save_monthly(savers, clock, saver, 3, 1_000 * KES)
    regularity.apply_month(savers.session, date(2026, 5, 1))
    assert limit_of(savers.session, saver.id) == 0


@pytest.mark.parametrize(("limit", "raised"), [
    (0, 50_000), (200_000, 250_000), (1_000_000, 1_100_000), (1_950_000, SAVING_CAP),
    (SAVING_CAP, SAVING_CAP), (5_000_000, 5_000_000),
])
def test_the_saving_raise_is_ten_percent_in_kes_500_steps_capped(limit, raised) -> None:
    assert saver_limit(limit) == raised
