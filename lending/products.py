"""Loan products: the terms that drive schedules and quotes, and their validation.

A product arrives as JSON (POST /api/v1/products). Money is integer minor units;
rates and percentages are decimal strings (`"24"`, `"18.5"`) so that no binary
float ever touches a price. Every problem is reported as a `ProductError` naming
the offending field, which the API turns into a 400.

Conventions fixed here (and documented in the OpenAPI description):

- `grace_periods` = g: the first g installments are interest-only (principal 0);
  the principal is then amortised over the remaining N - g installments. Flat
  interest is still charged on the original amount for all N periods and split
  evenly over all N installments; declining interest is charged on the balance,
  which stays at A through the grace installments. g must be below every term.
- Penalties never stack: a penalty is computed on the overdue installment amount
  (principal + interest), never on earlier penalties. `one_time` charges
  `penalty_percent` once per late installment; `daily` charges it per day late.
  Either way the penalties on one installment never exceed `penalty_cap_percent`
  of its amount.
- `credit_life_premium_percent` (default 0: no cover): the credit-life insurance
  premium, round(A x percent / 100) half-even, deducted from the payout beside the
  upfront fee and paid into the insurance pool (see `docs/insurance.md`). It leaves
  the CONTRACT's quote figures (net_disbursed = A - fee, the cost of credit, the APR)
  as they are; the quote adds `credit_life_premium` and `cash_received`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from core.money import MINOR_UNITS, round_half_even

PERIODS_PER_YEAR = {"weekly": 52, "fortnightly": 26, "monthly": 12}
INTEREST_METHODS = ("flat", "declining")
PENALTY_KINDS = ("none", "one_time", "daily")
FUNDING_MODES = ("all_or_nothing", "flexible")
OVERPAYMENT_POLICIES = ("credit", "prepay")

MAX_AMOUNT = 10**12  # KES 10bn in cents: far above any microloan, far below Decimal trouble
MAX_INSTALLMENTS = 520  # ten years of weekly installments
MAX_RATE = Decimal(1000)
MAX_RATE_PLACES = 4
MAX_PREMIUM_PERCENT = Decimal(10)  # credit-life cover costs a few percent at most
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


class ProductError(ValueError):
    """A product definition or a loan request that breaks a rule, naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class ProductTerms:
    """The calculation-relevant terms of a loan product."""

    code: str
    name: str
    currency: str
    min_amount: int
    max_amount: int
    terms: tuple[int, ...]
    frequency: str
    interest_method: str
    interest_rate: Decimal
    upfront_fee_percent: Decimal = Decimal(0)
    upfront_fee_flat: int = 0
    grace_periods: int = 0
    penalty_kind: str = "none"
    penalty_percent: Decimal = Decimal(0)
    penalty_cap_percent: Decimal = Decimal(0)
    funding_window_days: int = 14
    funding_mode: str = "all_or_nothing"
    share_unit: int = 10_000
    max_active_loans: int = 1
    overpayment: str = "credit"
    credit_life_premium_percent: Decimal = Decimal(0)

    @property
    def periods_per_year(self) -> int:
        """How many installment periods make a year (weekly 52, fortnightly 26, monthly 12)."""
        return PERIODS_PER_YEAR[self.frequency]

    def to_json(self) -> dict[str, Any]:
        """Render as the API shows a product: decimals as strings, money as ints."""
        return {
            "code": self.code,
            "name": self.name,
            "currency": self.currency,
            "min_amount": self.min_amount,
            "max_amount": self.max_amount,
            "terms": list(self.terms),
            "frequency": self.frequency,
            "interest_method": self.interest_method,
            "interest_rate": str(self.interest_rate),
            "upfront_fee_percent": str(self.upfront_fee_percent),
            "upfront_fee_flat": self.upfront_fee_flat,
            "grace_periods": self.grace_periods,
            "penalty_kind": self.penalty_kind,
            "penalty_percent": str(self.penalty_percent),
            "penalty_cap_percent": str(self.penalty_cap_percent),
            "funding_window_days": self.funding_window_days,
            "funding_mode": self.funding_mode,
            "share_unit": self.share_unit,
            "max_active_loans": self.max_active_loans,
            "overpayment": self.overpayment,
            "credit_life_premium_percent": str(self.credit_life_premium_percent),
        }


# --- field parsers: each takes (field, raw value) and returns the typed value ---


def _text(max_length: int) -> Callable[[str, Any], str]:
    def parse(field: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ProductError(field, "must be a non-empty string")
        if len(value.strip()) > max_length:
            raise ProductError(field, f"must be at most {max_length} characters")
        return value.strip()

    return parse


def _code(field: str, value: Any) -> str:
    if not isinstance(value, str) or not _CODE.match(value):
        raise ProductError(field, "must be 1-32 letters, digits, '-' or '_'")
    return value


def _currency(field: str, value: Any) -> str:
    if not isinstance(value, str) or value not in MINOR_UNITS:
        raise ProductError(field, f"must be one of {', '.join(sorted(MINOR_UNITS))}")
    return str(value)


def _integer(low: int, high: int) -> Callable[[str, Any], int]:
    def parse(field: str, value: Any) -> int:
        # bool is an int subclass and a float is never money: refuse both
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProductError(field, "must be an integer")
        if not low <= value <= high:
            raise ProductError(field, f"must be between {low} and {high}")
        return value

    return parse


def _percent(high: Decimal) -> Callable[[str, Any], Decimal]:
    def parse(field: str, value: Any) -> Decimal:
        # JSON integers are exact, so `24` is as good as `"24"`; floats are not
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ProductError(field, 'must be a decimal string such as "18.5"')
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise ProductError(field, 'must be a decimal string such as "18.5"') from None
        if not number.is_finite():
            raise ProductError(field, "must be a finite number")
        if not Decimal(0) <= number <= high:
            raise ProductError(field, f"must be between 0 and {high}")
        if number != round(number, MAX_RATE_PLACES):
            raise ProductError(field, f"must have at most {MAX_RATE_PLACES} decimal places")
        return number if number else Decimal(0)  # no "-0" or "0.00" in stored products

    return parse


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def parse(field: str, value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise ProductError(field, f"must be one of {', '.join(options)}")
        return str(value)

    return parse


def _terms(field: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ProductError(field, "must be a non-empty list of numbers of installments")
    check = _integer(1, MAX_INSTALLMENTS)
    parsed = [check(field, item) for item in value]
    if len(set(parsed)) != len(parsed):
        raise ProductError(field, "must not repeat a term")
    return tuple(sorted(parsed))


_REQUIRED: dict[str, Callable[[str, Any], Any]] = {
    "code": _code,
    "name": _text(80),
    "min_amount": _integer(1, MAX_AMOUNT),
    "max_amount": _integer(1, MAX_AMOUNT),
    "terms": _terms,
    "frequency": _choice(tuple(PERIODS_PER_YEAR)),
    "interest_method": _choice(INTEREST_METHODS),
    "interest_rate": _percent(MAX_RATE),
}

# optional fields: (parser, default when absent)
_OPTIONAL: dict[str, tuple[Callable[[str, Any], Any], Any]] = {
    "currency": (_currency, "KES"),
    "upfront_fee_percent": (_percent(Decimal("99.99")), Decimal(0)),
    "upfront_fee_flat": (_integer(0, MAX_AMOUNT), 0),
    "grace_periods": (_integer(0, MAX_INSTALLMENTS - 1), 0),
    "penalty_kind": (_choice(PENALTY_KINDS), "none"),
    "penalty_percent": (_percent(Decimal(100)), Decimal(0)),
    "penalty_cap_percent": (_percent(Decimal(100)), None),
    "funding_window_days": (_integer(1, 90), 14),
    "funding_mode": (_choice(FUNDING_MODES), "all_or_nothing"),
    "share_unit": (_integer(1, MAX_AMOUNT), 10_000),
    "max_active_loans": (_integer(1, 10), 1),
    "overpayment": (_choice(OVERPAYMENT_POLICIES), "credit"),
    "credit_life_premium_percent": (_percent(MAX_PREMIUM_PERCENT), Decimal(0)),
}

PRODUCT_FIELDS = frozenset(_REQUIRED) | frozenset(_OPTIONAL)


def validate_product(data: Mapping[str, Any]) -> ProductTerms:
    """Parse a JSON-like product definition, raising ProductError on the first bad field."""
    if not isinstance(data, Mapping):
        raise ProductError("body", "must be a JSON object")
    # an unknown key is most likely a typo of a real one: refuse rather than ignore it
    for key in data:
        if key not in PRODUCT_FIELDS:
            raise ProductError(str(key), "is not a product field")
    values: dict[str, Any] = {}
    for field, parse in _REQUIRED.items():
        if field not in data or data[field] is None:
            raise ProductError(field, "is required")
        values[field] = parse(field, data[field])
    for field, (parse, default) in _OPTIONAL.items():
        present = field in data and data[field] is not None
        values[field] = parse(field, data[field]) if present else default
    values["penalty_cap_percent"] = _penalty_cap(values)
    terms = ProductTerms(**values)
    _check_consistency(terms)
    return terms


def _penalty_cap(values: Mapping[str, Any]) -> Decimal:
    """Default the cap: a one-time penalty is its own cap; a daily one must say its cap."""
    cap = values["penalty_cap_percent"]
    if cap is not None:
        return Decimal(cap)
    if values["penalty_kind"] == "daily":
        raise ProductError("penalty_cap_percent", "a daily penalty needs a cap")
    return Decimal(values["penalty_percent"])


def _check_consistency(terms: ProductTerms) -> None:
    """Rules that span several fields."""
    if terms.min_amount > terms.max_amount:
        raise ProductError("min_amount", "must not exceed max_amount")
    if terms.grace_periods >= terms.terms[0]:
        raise ProductError("grace_periods", "must leave at least one principal installment")
    if terms.penalty_kind == "none":
        if terms.penalty_percent or terms.penalty_cap_percent:
            raise ProductError("penalty_percent", "must be 0 when penalty_kind is none")
    else:
        if not terms.penalty_percent:
            raise ProductError("penalty_percent", "must be above 0 for a penalty")
        if terms.penalty_cap_percent < terms.penalty_percent:
            raise ProductError("penalty_cap_percent", "must be at least penalty_percent")
    if net_of_fee(terms, terms.min_amount) <= 0:
        field = "upfront_fee_flat" if terms.upfront_fee_flat else "upfront_fee_percent"
        raise ProductError(field, "the fee would swallow the minimum amount")
    if cash_received(terms, terms.min_amount) <= 0:
        raise ProductError("credit_life_premium_percent",
                           "fee and premium would swallow the minimum amount")


def upfront_fee(terms: ProductTerms, amount: int) -> int:
    """The fee deducted at disbursement: round(A x fee%/100) half-even, plus the flat fee."""
    return round_half_even(Decimal(amount) * terms.upfront_fee_percent / 100) + (
        terms.upfront_fee_flat
    )


def net_of_fee(terms: ProductTerms, amount: int) -> int:
    """What the borrower receives: the amount less the upfront fee."""
    return amount - upfront_fee(terms, amount)


def credit_life_premium(terms: ProductTerms, amount: int) -> int:
    """The credit-life premium deducted at disbursement: round(A x premium%/100) half-even."""
    return round_half_even(Decimal(amount) * terms.credit_life_premium_percent / 100)


def cash_received(terms: ProductTerms, amount: int) -> int:
    """What reaches the borrower's phone: the amount less the fee and the cover's premium."""
    return net_of_fee(terms, amount) - credit_life_premium(terms, amount)


def check_request(terms: ProductTerms, amount: int, n: int) -> None:
    """Refuse an amount or a number of installments the product does not allow."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise ProductError("amount", "must be an integer number of minor units")
    if not terms.min_amount <= amount <= terms.max_amount:
        raise ProductError("amount", f"must be between {terms.min_amount} and {terms.max_amount}")
    if cash_received(terms, amount) <= 0:
        raise ProductError("amount", "is too small to cover the upfront fee")
    if not isinstance(n, int) or isinstance(n, bool) or n not in terms.terms:
        allowed = ", ".join(str(t) for t in terms.terms)
        raise ProductError("term", f"must be one of {allowed}")
