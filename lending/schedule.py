"""Repayment schedules by the CONTRACT's default conventions: flat and declining balance.

All amounts are integer minor units; every rounding is half-even. See
`lending.products` for the grace-period convention (interest-only first).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext

from core.money import round_half_even, split_evenly
from lending.products import ProductError, ProductTerms

DAYS_PER_PERIOD = {"weekly": 7, "fortnightly": 14}
# enough digits that (1+r)^N and the interest products are exact to far below a cent
PRECISION = 50


@dataclass(frozen=True, slots=True)
class Installment:
    """One row of a repayment schedule, in integer minor units."""

    number: int
    due_date: date
    principal: int
    interest: int
    total: int

    def to_json(self) -> dict[str, int | str]:
        """Render as the CONTRACT's installment object."""
        return {
            "number": self.number,
            "due_date": self.due_date.isoformat(),
            "principal": self.principal,
            "interest": self.interest,
            "total": self.total,
        }


def add_months(start: date, months: int) -> date:
    """The same day of the month `months` later, clamped to that month's last day."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def due_date(start: date, frequency: str, k: int) -> date:
    """When installment k falls due: k periods after `start`, never chained from k-1."""
    if frequency == "monthly":
        # computed from start so that Jan 31 gives Feb 28 and then Mar 31, not Mar 28
        return add_months(start, k)
    return start + timedelta(days=DAYS_PER_PERIOD[frequency] * k)


def period_interest(terms: ProductTerms, balance: int) -> int:
    """One period's interest on `balance`: round(balance x rate / 100 / periods)."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        # one division of an exact numerator keeps exact halves exact for half-even
        exact = Decimal(balance) * terms.interest_rate / (100 * terms.periods_per_year)
        return round_half_even(exact)


def level_payment(terms: ProductTerms, amount: int, n: int) -> int:
    """The equal installment E = round(A*r / (1 - (1+r)^-n)); A/n when the rate is 0."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        if not terms.interest_rate:
            return round_half_even(Decimal(amount) / n)
        rate = terms.interest_rate / (100 * terms.periods_per_year)
        growth = (1 + rate) ** n
        # A*r*(1+r)^n / ((1+r)^n - 1) is the same formula without a negative power
        return round_half_even(Decimal(amount) * rate * growth / (growth - 1))


def _flat_parts(terms: ProductTerms, amount: int, n: int) -> list[tuple[int, int]]:
    """(principal, interest) per installment for a flat-rate loan."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        exact = Decimal(amount) * terms.interest_rate * n / (100 * terms.periods_per_year)
        interest = round_half_even(exact)
    grace = terms.grace_periods
    principals = [0] * grace + split_evenly(amount, n - grace)
    return list(zip(principals, split_evenly(interest, n), strict=True))


def _declining_parts(terms: ProductTerms, amount: int, n: int) -> list[tuple[int, int]]:
    """(principal, interest) per installment for an equal-installment declining loan."""
    parts = [(0, period_interest(terms, amount))] * terms.grace_periods
    count = n - terms.grace_periods
    payment = level_payment(terms, amount, count)
    balance = amount
    for k in range(1, count + 1):
        interest = period_interest(terms, balance)
        if k == count:
            principal = balance
        else:
            # the clamp only bites on toy amounts, where E's rounding outgrows the balance
            principal = max(0, min(payment - interest, balance))
        parts.append((principal, interest))
        balance -= principal
    return parts


def build_schedule(terms: ProductTerms, amount: int, n: int, start: date) -> list[Installment]:
    """The repayment schedule for `amount` over `n` installments counted from `start`."""
    if amount < 1:
        raise ProductError("amount", "must be at least 1")
    if n <= terms.grace_periods:
        raise ProductError("term", "must be longer than the grace periods")
    build = _flat_parts if terms.interest_method == "flat" else _declining_parts
    parts = build(terms, amount, n)
    return [
        Installment(
            k, due_date(start, terms.frequency, k), principal, interest, principal + interest
        )
        for k, (principal, interest) in enumerate(parts, start=1)
    ]
