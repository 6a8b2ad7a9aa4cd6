"""The public figures, from the ledger and the loan book, on known loans."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from core.clock import utcnow
from impact import expenses
from impact.transparency import Scope, month_ends, outstanding_at, transparency
from lending.localtime import today
from lending.protection import write_off_loan

TZ = "Africa/Nairobi"


def test_figures_per_partner_and_platform_from_the_books(world, session, clock) -> None:
    north, south = world.partner("North"), world.partner("South")
    repaid = world.loan(world.member(north))  # KES 1,000 at 52% flat, 4 weeks: 4 x 260
    active = world.loan(world.member(north, gender="m"))
    lost = world.loan(world.member(south))
    world.repay(repaid, 104_000)
    world.repay(active, 26_000)  # one installment: 250 principal
    write_off_loan(session, lost.id, actor="test", reason="moved away")
    clock.advance(days=1)
    data = transparency(session, today(), utcnow(), TZ)

    platform = data["platform"]
    assert (platform["loans_disbursed"], platform["amount_disbursed"]) == (3, 300_000)
    assert platform["outstanding_principal"] == 75_000  # 750 left on the active loan
    assert platform["write_off_rate"] == "33.3"  # 1,000 of 3,000 written off
    assert platform["cost_of_credit_per_100"] == "4.0"  # 40 interest per 1,000 received
    assert platform["average_apr"] == str(Decimal(repaid.apr).quantize(Decimal("0.1")))
    assert platform["women_share"] == "66.7"
    north_figures = next(p for p in data["field_partners"] if p["name"] == "North")
    assert (north_figures["loans_disbursed"], north_figures["outstanding_principal"]) == (
        2, 75_000)
    assert north_figures["write_off_rate"] == "0.0" and north_figures["women_share"] == "50.0"
    south_figures = next(p for p in data["field_partners"] if p["name"] == "South")
    assert south_figures["write_off_rate"] == "100.0"
    assert set(data["method"]) >= {"operating_cost_ratio", "par30", "impact", "women_share"}


def test_the_operating_cost_ratio_is_yearly_expenses_over_the_average_portfolio(
        world, session, clock) -> None:
    world.loan(world.member())
    clock.advance(days=73)  # a fifth of a year, no repayments: KES 1,000 out all along
    expenses.record_operating_expense(session, expenses.ExpenseRequest(
        key="rent-1", category="premises", amount=5_000, description="rent",
        incurred_on=utcnow() - timedelta(days=1)), "test")
    again = expenses.record_operating_expense(session, expenses.ExpenseRequest(
        key="rent-1", category="premises", amount=5_000, description="rent",
        incurred_on=utcnow() - timedelta(days=1)), "test")
    platform = transparency(session, today(), utcnow(), TZ)["platform"]
    assert again.amount == 5_000 and platform["operating_expenses"] == 5_000  # booked once
    assert platform["average_portfolio"] == 100_000 and platform["window_days"] == 73
    # KES 50 in 73 days = KES 250 a year, over KES 1,000: 25%
    assert platform["operating_cost_ratio"] == "25.0"


def test_the_portfolio_is_read_from_the_ledger_at_each_moment(world, session, clock) -> None:
    start = utcnow()
    loan = world.loan(world.member())
    clock.advance(days=8)
    world.repay(loan, 26_000)
    assert outstanding_at(session, Scope(), start - timedelta(seconds=1)) == 0
    assert outstanding_at(session, Scope(), start + timedelta(days=1)) == 100_000
    assert outstanding_at(session, Scope(), utcnow()) == 75_000


def test_month_ends_are_local_month_boundaries() -> None:
    from datetime import UTC, datetime

    points = month_ends(datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC), TZ)
    # Nairobi is UTC+3: February starts at 21:00 UTC on 31 January
    assert [p.isoformat() for p in points] == ["2026-01-31T20:59:59.999999+00:00",
                                               "2026-02-28T20:59:59.999999+00:00"]


def test_an_empty_platform_has_no_rates_rather_than_errors(session) -> None:
    platform = transparency(session, today(), utcnow(), TZ)["platform"]
    assert platform["loans_disbursed"] == 0 and platform["repayment_rate"] is None
    assert platform["operating_cost_ratio"] is None and platform["women_share"] is None
