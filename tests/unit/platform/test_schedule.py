"""Repayment schedules: reference figures worked out by hand, and properties."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending.products import ProductError, ProductTerms, validate_product
from lending.schedule import add_months, build_schedule, due_date, level_payment


def product(**overrides: Any) -> ProductTerms:
    """A permissive product; each test states only the terms it is about."""
    data: dict[str, Any] = {
        "code": "TEST",
        "name": "Test loan",
        "min_amount": 1,
        "max_amount": 10**11,
        "terms": [1, 2, 3, 4, 6, 12],
        "frequency": "monthly",
        "interest_method": "flat",
        "interest_rate": "0",
    }
    data.update(overrides)
    return validate_product(data)


def rows(terms: ProductTerms, amount: int, n: int, start: date) -> list[tuple]:
    """The schedule as (due date ISO, principal, interest, total) tuples."""
    return [
        (row.due_date.isoformat(), row.principal, row.interest, row.total)
        for row in build_schedule(terms, amount, n, start)
    ]


# --- reference schedules, every figure derived by hand in the comments ---


def test_flat_weekly_four_installments():
    # A = 400000 (KES 4,000), 130% flat, weekly (52/yr), N = 4.
    # I = 400000 x 130/100 x 4 / 52 = 400000 x 1.3 x 4 / 52 = 2080000 / 52 = 40000 exactly.
    # principal 400000 / 4 = 100000 each; interest 40000 / 4 = 10000 each; total 110000.
    # due: 2025-01-06 + 7, 14, 21, 28 days.
    assert rows(product(frequency="weekly", interest_rate="130"), 400000, 4, date(2025, 1, 6)) == [
        ("2025-01-13", 100000, 10000, 110000),
        ("2025-01-20", 100000, 10000, 110000),
        ("2025-01-27", 100000, 10000, 110000),
        ("2025-02-03", 100000, 10000, 110000),
    ]


def test_flat_monthly_remainders_go_to_the_last_installment_in_a_leap_year():
    # A = 100000, 20% flat, monthly, N = 3: I = 100000 x 0.20 x 3 / 12 = 5000.
    # principal floor(100000/3) = 33333, last 100000 - 2 x 33333 = 33334;
    # interest floor(5000/3) = 1666, last 5000 - 2 x 1666 = 1668.
    # totals 33333+1666 = 34999, 34999, 33334+1668 = 35002.
    # dates from 2024-01-31: Feb has 29 days in 2024 -> 02-29, then 03-31, 04-30.
    assert rows(product(interest_rate="20"), 100000, 3, date(2024, 1, 31)) == [
        ("2024-02-29", 33333, 1666, 34999),
        ("2024-03-31", 33333, 1666, 34999),
        ("2024-04-30", 33334, 1668, 35002),
    ]


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        # I = A x 10/100 x 2 / 26 = A / 130.  50765 / 130 = 390.5, a tie -> even 390:
        # interest 195, 195; principal floor(50765/2) = 25382, last 25383.
        (50765, [("2025-03-15", 25382, 195, 25577), ("2025-03-29", 25383, 195, 25578)]),
        # 50895 / 130 = 391.5, a tie -> even 392: interest 196, 196; principal 25447, 25448.
        (50895, [("2025-03-15", 25447, 196, 25643), ("2025-03-29", 25448, 196, 25644)]),
    ],
)
def test_flat_fortnightly_interest_ties_round_half_even(amount, expected):
    terms = product(frequency="fortnightly", interest_rate="10")
    assert rows(terms, amount, 2, date(2025, 3, 1)) == expected


def test_declining_monthly_from_january_31():
    # A = 100000, 24% declining, monthly: r = 24/100/12 = 0.02, N = 3.
    # 1.02^3 = 1.061208; E = A r (1+r)^N / ((1+r)^N - 1) = 2000 x 1.061208 / 0.061208
    #   = 2122.416 / 0.061208 = 34675.47 -> 34675.
    # k1: interest 100000 x 0.02 = 2000; principal 34675 - 2000 = 32675; balance 67325.
    # k2: interest 67325 x 0.02 = 1346.5, a tie -> even 1346; principal 33329; balance 33996.
    # k3 (last): interest 33996 x 0.02 = 679.92 -> 680; principal = balance 33996; total 34676.
    # dates from 2025-01-31, each from the start: 02-28, 03-31 (not 03-28), 04-30.
    assert rows(
        product(interest_method="declining", interest_rate="24"), 100000, 3, date(2025, 1, 31)
    ) == [
        ("2025-02-28", 32675, 2000, 34675),
        ("2025-03-31", 33329, 1346, 34675),
        ("2025-04-30", 33996, 680, 34676),
    ]


def test_declining_weekly():
    # A = 500000, 52% declining, weekly: r = 52/100/52 = 0.01, N = 4.
    # 1.01^2 = 1.0201, 1.01^4 = 1.0201^2 = 1.04060401.
    # E = 500000 x 0.01 x 1.04060401 / 0.04060401 = 5203.02005 / 0.04060401
    #   128140 x 0.04060401 = 5202.99784; (5203.02005 - 5202.99784) / 0.04060401 = 0.547
    #   -> E = 128140.547 -> 128141.
    # k1: interest 5000;                 principal 123141; balance 376859.
    # k2: interest 3768.59 -> 3769;      principal 124372; balance 252487.
    # k3: interest 2524.87 -> 2525;      principal 125616; balance 126871.
    # k4: interest 1268.71 -> 1269;      principal 126871 (the balance); total 128140.
    terms = product(interest_method="declining", interest_rate="52", frequency="weekly")
    assert rows(terms, 500000, 4, date(2025, 1, 6)) == [
        ("2025-01-13", 123141, 5000, 128141),
        ("2025-01-20", 124372, 3769, 128141),
        ("2025-01-27", 125616, 2525, 128141),
        ("2025-02-03", 126871, 1269, 128140),
    ]


def test_declining_fortnightly():
    # A = 200000, 26% declining, fortnightly: r = 26/100/26 = 0.01, N = 2.
    # E = 2000 x 1.0201 / 0.0201 = 2040.2 / 0.0201 = 101502.49 -> 101502.
    # k1: interest 2000; principal 99502; balance 100498.
    # k2: interest 1004.98 -> 1005; principal 100498; total 101503.
    terms = product(interest_method="declining", interest_rate="26", frequency="fortnightly")
    assert rows(terms, 200000, 2, date(2025, 2, 20)) == [
        ("2025-03-06", 99502, 2000, 101502),
        ("2025-03-20", 100498, 1005, 101503),
    ]


def test_declining_single_installment_repays_amount_with_one_periods_interest():
    # N = 1: E = A r (1+r) / r = A (1+r) = 102000 at r = 0.02; the last (only) row repays
    # the balance 100000 with interest 2000.  2025-11-30 + 1 month = 2025-12-30.
    terms = product(interest_method="declining", interest_rate="24")
    assert rows(terms, 100000, 1, date(2025, 11, 30)) == [("2025-12-30", 100000, 2000, 102000)]


def test_declining_at_rate_zero_splits_the_amount():
    # r = 0: E = round(100000 / 3) = round(33333.33) = 33333; the last takes 33334.
    terms = product(interest_method="declining", interest_rate="0")
    assert rows(terms, 100000, 3, date(2025, 5, 15)) == [
        ("2025-06-15", 33333, 0, 33333),
        ("2025-07-15", 33333, 0, 33333),
        ("2025-08-15", 33334, 0, 33334),
    ]


def test_declining_at_rate_zero_rounds_the_installment_half_even():
    # r = 0: E = round(100001 / 2) = round(50000.5) -> even 50000; the last takes 50001.
    terms = product(interest_method="declining", interest_rate="0", frequency="weekly")
    assert rows(terms, 100001, 2, date(2025, 5, 15)) == [
        ("2025-05-22", 50000, 0, 50000),
        ("2025-05-29", 50001, 0, 50001),
    ]


def test_flat_at_rate_zero_has_no_interest():
    # I = 0; principal floor(100000/6) = 16666 x5, last 100000 - 83330 = 16670.
    terms = product(frequency="fortnightly", terms=[6])
    assert [r[1:] for r in rows(terms, 100000, 6, date(2025, 1, 1))] == [
        (16666, 0, 16666),
        (16666, 0, 16666),
        (16666, 0, 16666),
        (16666, 0, 16666),
        (16666, 0, 16666),
        (16670, 0, 16670),
    ]


def test_flat_with_one_grace_period_pays_interest_only_first():
    # A = 120000, 12% flat, monthly, N = 4, grace 1.
    # I = 120000 x 0.12 x 4 / 12 = 4800 over all 4 installments: 1200 each.
    # principal over the 3 remaining installments: 40000 each; the first pays 0.
    terms = product(interest_rate="12", grace_periods=1, terms=[4])
    assert rows(terms, 120000, 4, date(2025, 3, 10)) == [
        ("2025-04-10", 0, 1200, 1200),
        ("2025-05-10", 40000, 1200, 41200),
        ("2025-06-10", 40000, 1200, 41200),
        ("2025-07-10", 40000, 1200, 41200),
    ]


def test_declining_with_one_grace_period_amortises_over_the_rest():
    # A = 100000, 24% declining (r = 0.02), monthly, N = 4, grace 1.
    # k1: interest-only, 100000 x 0.02 = 2000, principal 0; balance stays 100000.
    # k2..k4 amortise 100000 over 3: exactly the hand-worked 24%/3-month schedule above
    #   (E = 34675; 32675+2000, 33329+1346, 33996+680).
    terms = product(interest_method="declining", interest_rate="24", grace_periods=1, terms=[4])
    assert rows(terms, 100000, 4, date(2025, 1, 31)) == [
        ("2025-02-28", 0, 2000, 2000),
        ("2025-03-31", 32675, 2000, 34675),
        ("2025-04-30", 33329, 1346, 34675),
        ("2025-05-31", 33996, 680, 34676),
    ]


def test_level_payment_matches_the_annuity_formula():
    # 12 months at 12%: r = 0.01, 1.01^12 = 1.12682503, so (1+r)^N / ((1+r)^N - 1)
    #   = 1 + 1 / 0.12682503 = 1 + 7.88487887 = 8.88487887.
    # A = 100,000,000: E = 1,000,000 x 8.88487887 = 8,884,878.87 -> 8,884,879.
    # A = 1,000,000:   E = 10,000 x 8.88487887 = 88,848.79 -> 88,849.
    terms = product(interest_method="declining", interest_rate="12")
    assert level_payment(terms, 100_000_000, 12) == 8_884_879
    assert level_payment(terms, 1_000_000, 12) == 88_849


# --- dates ---


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2025, 1, 31), 2, date(2025, 3, 31)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2025, 8, 31), 5, date(2026, 1, 31)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2025, 1, 29), 1, date(2025, 2, 28)),
        (date(2025, 1, 29), 2, date(2025, 3, 29)),
    ],
)
def test_add_months_clamps_to_the_month_end(start, months, expected):
    assert add_months(start, months) == expected


def test_monthly_due_dates_are_computed_from_the_start_not_chained():
    start = date(2025, 8, 31)
    dates = [due_date(start, "monthly", k) for k in range(1, 7)]
    assert dates == [
        date(2025, 9, 30),
        date(2025, 10, 31),
        date(2025, 11, 30),
        date(2025, 12, 31),
        date(2026, 1, 31),
        date(2026, 2, 28),
    ]


def test_fortnightly_due_dates_step_fourteen_days():
    assert due_date(date(2025, 12, 25), "fortnightly", 3) == date(2026, 2, 5)


def test_a_term_within_the_grace_periods_is_refused():
    terms = product(interest_rate="12", grace_periods=1, terms=[2])
    with pytest.raises(ProductError) as raised:
        build_schedule(terms, 1000, 1, date(2025, 1, 1))
    assert raised.value.field == "term"


# --- properties ---

rates = st.integers(0, 20000).map(lambda hundredths: Decimal(hundredths) / 100)


@st.composite
def loans(draw: st.DrawFn) -> tuple[ProductTerms, int, int, date]:
    """A random product, amount, term and start date."""
    grace = draw(st.integers(0, 3))
    n = draw(st.integers(grace + 1, 60))
    terms = product(
        frequency=draw(st.sampled_from(["weekly", "fortnightly", "monthly"])),
        interest_method=draw(st.sampled_from(["flat", "declining"])),
        interest_rate=str(draw(rates)),
        grace_periods=grace,
        terms=[n],
    )
    amount = draw(st.integers(1, 10**10))
    start = draw(st.dates(date(2000, 1, 1), date(2090, 12, 31)))
    return terms, amount, n, start


@settings(max_examples=300, deadline=None)
@given(loans())
def test_schedule_invariants(loan):
    terms, amount, n, start = loan
    schedule = build_schedule(terms, amount, n, start)
    assert len(schedule) == n
    assert [row.number for row in schedule] == list(range(1, n + 1))
    assert sum(row.principal for row in schedule) == amount
    assert all(row.total == row.principal + row.interest for row in schedule)
    assert all(row.principal >= 0 and row.interest >= 0 for row in schedule)
    assert all(row.principal == 0 for row in schedule[: terms.grace_periods])
    dates = [start] + [row.due_date for row in schedule]
    assert all(earlier < later for earlier, later in zip(dates, dates[1:], strict=False))


@settings(max_examples=200, deadline=None)
@given(loans())
def test_flat_interest_totals_the_contract_formula(loan):
    terms, amount, n, start = loan
    terms = product(**{**terms.to_json(), "interest_method": "flat"})
    schedule = build_schedule(terms, amount, n, start)
    # I = round(A x rate/100 x N / P) with an integer-exact half-even, independent of Decimal
    numerator = amount * int(terms.interest_rate * 100) * n
    denominator = 100 * 100 * terms.periods_per_year
    quotient, remainder = divmod(numerator, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and quotient % 2):
        quotient += 1
    assert sum(row.interest for row in schedule) == quotient


@settings(max_examples=200, deadline=None)
@given(loans())
def test_declining_installments_are_level_until_the_last(loan):
    terms, amount, n, start = loan
    terms = product(**{**terms.to_json(), "interest_method": "declining"})
    schedule = build_schedule(terms, amount, n, start)
    amortising = schedule[terms.grace_periods :]
    assert sum(row.principal for row in schedule) == amount
    payment = level_payment(terms, amount, len(amortising))
    # E and each period's interest are rounded to the cent, and those half cents compound
    # at (1+r) a period: over the loan they add up to at most sum((1+r)^k) = ((1+r)^n - 1)
    # / r cents. While that is well under one installment the level holds to the last; past
    # it (hundreds of percent a year over years) the early payments retire the loan first.
    rate = float(terms.interest_rate) / 100 / terms.periods_per_year
    growth = (1 + rate) ** len(amortising)
    drift = (growth - 1) / rate if rate else len(amortising)
    if amount >= 100 * n and drift < payment / 2:
        assert all(row.total == payment for row in amortising[:-1])
        assert abs(amortising[-1].total - payment) <= drift + 1


@settings(max_examples=100, deadline=None)
@given(st.dates(date(2000, 1, 1), date(2090, 12, 31)), st.integers(1, 200))
def test_weekly_due_dates_are_whole_weeks(start, k):
    assert due_date(start, "weekly", k) - start == timedelta(weeks=k)
