"""The hospital-cash plan: a premium by M-Pesa for a period, a fixed benefit per night.

Credit-life cover has no plan of its own: its premium is a field of the loan
product (`credit_life_premium_percent`) and it covers the loan's outstanding
balance for the life of the loan.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HospitalCashPlan:
    """What hospital cash costs and pays; amounts in minor units, whole shillings."""

    code: str
    premium: int  # paid once per period, by STK push
    cover_days: int  # the period one premium buys, from the day it is paid
    nightly_benefit: int  # paid per night in hospital
    max_nights: int  # per period, across all claims

    @property
    def max_benefit(self) -> int:
        return self.nightly_benefit * self.max_nights


HOSPITAL_CASH = HospitalCashPlan(code="HOSPITAL_CASH", premium=15_000, cover_days=30,
                                 nightly_benefit=50_000, max_nights=10)
"""KES 150 for 30 days; KES 500 a night in hospital, at most 10 nights (KES 5,000)."""
