from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import (
    Money,
    MoneyError,
    allocate,
    format_money,
    parse_amount,
    round_half_even,
    split_evenly,
)


@pytest.mark.parametrize(
    ("typed", "minor"),
    [("1000", 100_000), ("1,000", 100_000), ("1000.50", 100_050), ("1,250,000", 125_000_000),
     (" 25 ", 2_500), ("KES 300", 30_000), ("0.5", 50), ("12.05", 1_205)],
)
def test_parse_amount_accepts_what_people_type(typed: str, minor: int) -> None:
    assert parse_amount(typed) == minor


@pytest.mark.parametrize("typed", ["", "abc", "1.234", "1,00", "-5", "1e3", "10..5", "½"])
def test_parse_amount_rejects_garbage_with_a_reason(typed: str) -> None:
    with pytest.raises(MoneyError):
        parse_amount(typed)


@pytest.mark.parametrize(
    ("minor", "text"),
    [(125_000, "KES 1,250"), (125_050, "KES 1,250.50"), (5, "KES 0.05"), (-10_000, "-KES 100")],
)
def test_format_money_for_screens(minor: int, text: str) -> None:
    assert format_money(minor) == text


def test_money_refuses_floats_and_mixed_currencies() -> None:
    with pytest.raises(MoneyError):
        Money(10.5)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(1, "KES") + Money(1, "USD")
    assert Money(150) + Money(50) == Money(200)


def test_round_half_even_goes_to_the_even_neighbour() -> None:
    assert [round_half_even(Decimal(x)) for x in ("0.5", "1.5", "2.5", "-2.5", "2.51")] == [
        0, 2, 2, -2, 3]


def test_allocate_by_largest_remainder() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(10_001, [5_000, 3_000, 2_000]) == [5_001, 3_000, 2_000]
    assert allocate(-100, [1, 1, 1]) == [-34, -33, -33]


def test_split_evenly_puts_the_remainder_last() -> None:
    assert split_evenly(1_000, 3) == [333, 333, 334]


@given(st.integers(-10**12, 10**12), st.lists(st.integers(0, 10**6), min_size=1, max_size=40))
def test_allocate_parts_always_sum_to_the_whole(total: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        with pytest.raises(MoneyError):
            allocate(total, weights)
        return
    parts = allocate(total, weights)
    assert sum(parts) == total
    exact = [total * w / sum(weights) for w in weights]
    assert all(abs(p - e) < 1 for p, e in zip(parts, exact, strict=True))


@given(st.integers(0, 10**12), st.integers(1, 60))
def test_split_evenly_sums_exactly(total: int, parts: int) -> None:
    shares = split_evenly(total, parts)
    assert sum(shares) == total and len(shares) == parts


@pytest.mark.parametrize(("minor", "whole"), [(38_192, 38_200), (38_200, 38_200), (1, 100),
                                              (0, 0)])
def test_round_up_to_whole_shillings(minor: int, whole: int) -> None:
    from core.money import round_up_to_whole

    assert round_up_to_whole(minor) == whole
