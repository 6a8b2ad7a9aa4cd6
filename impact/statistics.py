"""Means and confidence intervals for survey scores; pure functions on plain numbers.

The interval for a mean (of scores, or of paired follow-up − baseline differences) is
Student's t: mean ± t(0.975, n−1) × s / √n. Critical values for 1-30 degrees of
freedom are the published table; above 30 the normal quantile with the first two
Cornish-Fisher terms, z + (z³ + z)/(4·df) + (5z⁵ + 16z³ + 3z)/(96·df²), which is within
0.001 of the exact value there. Cells with fewer than `min_n` members are suppressed: no mean, no
interval, only "fewer than min_n" (docs/impact.md).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_CELL = 5
"""Below this many members a cell shows nothing but that it is small."""

T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)
"""Two-sided 95% critical values of Student's t for 1..30 degrees of freedom."""
Z_975 = statistics.NormalDist().inv_cdf(0.975)


def t_critical(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError("t needs at least one degree of freedom")
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean with its 95% interval, or a suppressed cell (`mean` None)."""

    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def suppressed(self) -> bool:
        return self.mean is None

    def to_json(self) -> dict[str, object]:
        if self.suppressed:
            return {"n": self.n, "suppressed": True}
        return {"n": self.n, "suppressed": False, "mean": _round(self.mean),
                "ci95": [_round(self.ci_low), _round(self.ci_high)]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def mean_interval(values: Sequence[float], *, min_n: int = MIN_CELL) -> Estimate:
    """The mean of `values` and its 95% t interval; suppressed below `min_n` values."""
    n = len(values)
    if n < max(min_n, 2):
        return Estimate(n, None, None, None)
    mean = statistics.fmean(values)
    half = t_critical(n - 1) * statistics.stdev(values) / math.sqrt(n)
    return Estimate(n, mean, mean - half, mean + half)


def paired_change(baseline: Sequence[float], followup: Sequence[float], *,
                  min_n: int = MIN_CELL) -> Estimate:
    """The mean of follow-up − baseline over the same members, with its 95% interval."""
    if len(baseline) != len(followup):
        raise ValueError("paired values need one baseline per follow-up")
    return mean_interval([after - before for before, after in zip(baseline, followup,
                                                                  strict=True)], min_n=min_n)
