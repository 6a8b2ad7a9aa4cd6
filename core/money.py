"""Money as integer minor units, with parsing, formatting and exact splits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

MINOR_UNITS = {"KES": 100, "UGX": 1, "TZS": 100, "USD": 100}


class MoneyError(ValueError):
    """An amount could not be understood or combined."""


@dataclass(frozen=True, order=True, slots=True)
class Money:
    """An amount in integer minor units of one ISO currency."""

    minor: int
    currency: str = "KES"

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise MoneyError("money is held in integer minor units")

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __str__(self) -> str:
        return format_money(self.minor, self.currency)


def unit(currency: str) -> int:
    return MINOR_UNITS.get(currency, 100)


def format_money(minor: int, currency: str = "KES", *, with_currency: bool = True) -> str:
    """Format for a screen: `KES 1,250` or `KES 1,250.50` (cents only when present)."""
    per = unit(currency)
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), per)
    text = f"{whole:,}"
    if cents:
        text += f".{cents:0{len(str(per)) - 1}d}"
    return f"{sign}{currency} {text}" if with_currency else f"{sign}{text}"


_AMOUNT = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?$")


def parse_amount(text: str, currency: str = "KES") -> int:
    """Parse what a person types (`1000`, `1,000`, `1000.50`) into minor units."""
    cleaned = text.strip().upper().removeprefix(currency).strip().replace(" ", "")
    if not cleaned:
        raise MoneyError("enter an amount")
    if not _AMOUNT.match(cleaned):
        raise MoneyError("enter an amount in numbers, like 1000 or 1,000.50")
    per = unit(currency)
    try:
        value = Decimal(cleaned.replace(",", "")) * per
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards
        raise MoneyError("enter an amount in numbers") from exc
    if value != value.to_integral_value():
        raise MoneyError("too many decimal places")
    return int(value)


def round_half_even(value: Decimal) -> int:
    """Round a decimal amount of minor units to an integer, half to even."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` in proportion to `weights` by largest remainder; parts sum exactly.

    Ties in the remainder go to the earlier weight, so the split is deterministic.
    """
    if not weights:
        raise MoneyError("nothing to allocate to")
    if any(w < 0 for w in weights):
        raise MoneyError("weights cannot be negative")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise MoneyError("weights sum to zero")
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    floors = [magnitude * w // weight_sum for w in weights]
    remainders = [magnitude * w % weight_sum for w in weights]
    shortfall = magnitude - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:shortfall]:
        floors[i] += 1
    return [sign * part for part in floors]


def split_evenly(total: int, parts: int) -> list[int]:
    """Split into `parts` floor shares with the last taking the remainder (CONTRACT flat rule)."""
    if parts <= 0:
        raise MoneyError("split into at least one part")
    share = total // parts
    return [share] * (parts - 1) + [total - share * (parts - 1)]


def round_up_to_whole(minor: int, currency: str = "KES") -> int:
    """Round up to a whole unit of the currency (mobile money cannot move cents)."""
    per = unit(currency)
    return -(-minor // per) * per
