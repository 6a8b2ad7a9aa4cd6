"""Means, paired changes and 95% t intervals against values worked by hand; suppression."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impact.reports import suppressed_groups
from impact.statistics import mean_interval, paired_change, t_critical


@pytest.mark.parametrize(("df", "exact"), [
    (1, 12.7062), (4, 2.7764), (9, 2.2622), (30, 2.0423),
    (31, 2.0395), (40, 2.0211), (60, 2.0003), (120, 1.9799), (1000, 1.9623),
])
def test_t_critical_values_match_the_tables(df: int, exact: float) -> None:
    assert t_critical(df) == pytest.approx(exact, abs=0.001)


def test_a_mean_and_its_interval_worked_by_hand() -> None:
    # 1..5: mean 3, s = sqrt(2.5) = 1.5811; half-width 2.776 x 1.5811 / sqrt(5) = 1.9629
    estimate = mean_interval([1, 2, 3, 4, 5])
    assert (estimate.n, estimate.mean) == (5, 3.0)
    assert estimate.ci_low == pytest.approx(1.0371, abs=1e-3)
    assert estimate.ci_high == pytest.approx(4.9629, abs=1e-3)


def test_a_paired_change_is_the_mean_of_differences() -> None:
    before = [40, 50, 60, 20, 30, 50]
    after = [60, 55, 80, 30, 35, 70]  # differences 20, 5, 20, 10, 5, 20: mean 13.33
    estimate = paired_change(before, after)
    assert estimate.mean == pytest.approx(13.333, abs=1e-3)
    s = math.sqrt(sum((d - 40 / 3) ** 2 for d in (20, 5, 20, 10, 5, 20)) / 5)  # 7.528
    half = 2.571 * s / math.sqrt(6)
    assert estimate.ci_low == pytest.approx(40 / 3 - half, abs=1e-3)
    assert estimate.to_json() == {"n": 6, "suppressed": False, "mean": 13.3,
                                  "ci95": [round(40 / 3 - half, 1), round(40 / 3 + half, 1)]}


def test_fewer_than_five_values_are_suppressed() -> None:
    estimate = mean_interval([10, 20, 30, 40])
    assert estimate.suppressed and estimate.to_json() == {"n": 4, "suppressed": True}
    assert not mean_interval([10, 20, 30, 40, 50]).suppressed


@given(st.lists(st.floats(min_value=0, max_value=100), min_size=5, max_size=60))
def test_the_interval_always_holds_the_mean(values: list[float]) -> None:
    estimate = mean_interval(values)
    assert estimate.ci_low is not None and estimate.ci_high is not None
    assert estimate.ci_low - 1e-9 <= estimate.mean <= estimate.ci_high + 1e-9


@given(st.dictionaries(st.text(min_size=1, max_size=3), st.integers(min_value=1, max_value=30),
                       min_size=1, max_size=8))
def test_hidden_groups_are_never_recoverable_by_subtraction(sizes: dict[str, int]) -> None:
    hidden = suppressed_groups(sizes, 5)
    assert all(size >= 5 for name, size in sizes.items() if name not in hidden)
    hidden_total = sum(sizes[name] for name in hidden)
    # what the total minus the shown groups reveals is either nothing or a group of 5+
    assert hidden_total == 0 or hidden_total >= 5 or len(hidden) == len(sizes)
