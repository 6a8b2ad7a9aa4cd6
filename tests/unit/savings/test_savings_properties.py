"""Invariants of the savings arithmetic: interest rounding, pot splits, the payout rotation."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from savings.chamas import recipients, rounds_per_cycle, split_pot
from savings.interest import exact_interest, monthly_interest, round_half_even

balances = st.lists(st.integers(min_value=0, max_value=10**11), min_size=28, max_size=31)
rates = st.integers(min_value=0, max_value=5000)


@given(st.integers(min_value=-10**12, max_value=10**12), st.integers(min_value=1, max_value=10**6))
def test_half_even_rounding_agrees_with_decimal(numerator: int, denominator: int) -> None:
    expected = (Decimal(numerator) / Decimal(denominator)).quantize(
        Decimal(1), rounding=ROUND_HALF_EVEN)
    value = Fraction(numerator, denominator)
    assert abs(round_half_even(value) - value) <= Fraction(1, 2)
    assert round_half_even(value) == int(expected)


@given(balances, rates)
def test_interest_is_within_half_a_cent_of_the_exact_figure(days: list[int], rate: int) -> None:
    credited = monthly_interest(days, rate)
    assert isinstance(credited, int)
    assert abs(credited - exact_interest(days, rate)) <= Fraction(1, 2)


@given(balances, rates, st.integers(min_value=0, max_value=10**9))
def test_more_money_never_earns_less_interest(days: list[int], rate: int, extra: int) -> None:
    richer = [b + extra for b in days]
    assert monthly_interest(richer, rate) >= monthly_interest(days, rate)


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=1, max_value=30))
def test_a_pot_splits_into_parts_that_add_up_and_differ_by_at_most_a_cent(
        pot: int, shares: int) -> None:
    parts = split_pot(pot, shares)
    assert len(parts) == shares and sum(parts) == pot
    assert max(parts) - min(parts) <= 1


@given(st.integers(min_value=2, max_value=30), st.data())
def test_every_member_is_paid_exactly_once_per_cycle(members: int, data: st.DataObject) -> None:
    per_round = data.draw(st.integers(min_value=1, max_value=members - 1))
    first_round = data.draw(st.integers(min_value=1, max_value=500))
    cycle = rounds_per_cycle(members, per_round)
    paid = [p for r in range(first_round, first_round + cycle)
            for p in recipients(members, per_round, r)]
    assert sorted(paid) == list(range(1, members + 1))
