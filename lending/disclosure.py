"""Cost-of-credit disclosure: the quote a borrower sees before accepting, and its APR.

The APR follows the EU Consumer Credit Directive, Annex I, with its "equal
periods" convention: X solves net_disbursed = sum(total_k * (1+X)^(-t_k)) with
t_k = k / periods-per-year. It is shown in percent to one decimal, half-even.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from itertools import groupby
from typing import Any

from core.gsm7 import septets
from core.money import format_money
from lending.products import ProductTerms, check_request, credit_life_premium, upfront_fee
from lending.schedule import PRECISION, Installment, build_schedule

# 2^-120 of a factor-of-two bracket: v to ~1e-36 relative, far below 0.05% of APR
BISECTION_STEPS = 120
SCREEN_BUDGET = 120  # septets: leaves room on a 182-character USSD screen for options
ONE_DECIMAL = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class Quote:
    """What a loan costs: its schedule, fee, net disbursement, cost of credit and APR."""

    currency: str
    frequency: str
    amount: int
    term: int
    installments: tuple[Installment, ...]
    total_repayable: int
    upfront_fee: int
    net_disbursed: int
    total_cost_of_credit: int
    apr: Decimal
    credit_life_premium: int = 0

    @property
    def cash_received(self) -> int:
        """What reaches the borrower's phone: net_disbursed less the credit-life premium."""
        return self.net_disbursed - self.credit_life_premium

    def to_json(self) -> dict[str, Any]:
        """Render as the CONTRACT's quote object (plus currency, amount, term, frequency)."""
        return {
            "currency": self.currency,
            "amount": self.amount,
            "term": self.term,
            "frequency": self.frequency,
            "installments": [row.to_json() for row in self.installments],
            "total_repayable": self.total_repayable,
            "upfront_fee": self.upfront_fee,
            "net_disbursed": self.net_disbursed,
            "total_cost_of_credit": self.total_cost_of_credit,
            "apr": str(self.apr),
            # Additions to the CONTRACT's quote: the cover's premium and the cash paid out.
            "credit_life_premium": self.credit_life_premium,
            "cash_received": self.cash_received,
        }


def quote(terms: ProductTerms, amount: int, n: int, start: date) -> Quote:
    """Quote `amount` over `n` installments from `start`; ProductError if not allowed."""
    check_request(terms, amount, n)
    rows = tuple(build_schedule(terms, amount, n, start))
    total = sum(row.total for row in rows)
    fee = upfront_fee(terms, amount)
    net = amount - fee
    return Quote(
        currency=terms.currency,
        frequency=terms.frequency,
        amount=amount,
        term=n,
        installments=rows,
        total_repayable=total,
        upfront_fee=fee,
        net_disbursed=net,
        total_cost_of_credit=total - net,
        apr=annual_percentage_rate(net, [row.total for row in rows], terms.periods_per_year),
        credit_life_premium=credit_life_premium(terms, amount),
    )


def _present_value(payments: Sequence[int], factor: Decimal) -> Decimal:
    """sum(payment_k * factor^k) for k = 1.., by Horner's rule."""
    value = Decimal(0)
    for payment in reversed(payments):
        value = (value + payment) * factor
    return value


def annual_percentage_rate(net: int, payments: Sequence[int], periods_per_year: int) -> Decimal:
    """The APR in percent, one decimal, for `net` received and `payments` one period apart."""
    if net <= 0 or not any(payments):
        raise ValueError("an APR needs money received and money repaid")
    if sum(payments) == net:
        return Decimal("0.0")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        factor = _discount_factor(net, payments)
        percent = (factor ** (-periods_per_year) - 1) * 100
        # an absurd APR can have more integer digits than the working precision
        ctx.prec = max(PRECISION, percent.adjusted() + 3)
        return percent.quantize(ONE_DECIMAL, rounding=ROUND_HALF_EVEN)


def _discount_factor(net: int, payments: Sequence[int]) -> Decimal:
    """The per-period factor v = (1+X)^(-1/P) at which the payments are worth `net`."""
    # the present value is a polynomial in v rising from 0: bracket the root within a
    # factor of two first, so bisection gains relative precision however small v is
    low, high = Decimal("0.5"), Decimal(1)
    while _present_value(payments, high) < net:  # only when repaying less than received
        low, high = high, high * 2
    while _present_value(payments, low) >= net:
        low, high = low / 2, low
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        if _present_value(payments, middle) < net:
            low = middle
        else:
            high = middle
    return (low + high) / 2


# --- the short text for a USSD screen ---

_WORDS = {
    "en": {
        "weekly": "weekly",
        "fortnightly": "every 2 weeks",
        "monthly": "monthly",
        "pay": "Pay {plan} {every}.",
        "then": ", then ",
        "range": "Pay {n} installments {every}, {low} to {high}.",
        "get": "You get {net}.",
        "total": "Total {total}.",
        "cost": "Cost {cost}.",
        "apr": "APR {apr}%",
        "cover": "Life cover {premium}.",
    },
    "sw": {
        "weekly": "kila wiki",
        "fortnightly": "kila wiki 2",
        "monthly": "kila mwezi",
        "pay": "Lipa {plan} {every}.",
        "then": ", kisha ",
        "range": "Lipa awamu {n} {every}, {low} hadi {high}.",
        "get": "Utapata {net}.",
        "total": "Jumla {total}.",
        "cost": "Gharama {cost}.",
        "apr": "APR {apr}%",
        "cover": "Bima ya mkopo {premium}.",
    },
}


def _plan(quote: Quote, words: dict[str, str]) -> str | None:
    """`KES 1,100 x4`, or two runs joined by "then"; None when the plan has more runs."""
    totals = (row.total for row in quote.installments)
    runs = [(total, len(list(group))) for total, group in groupby(totals)]
    if len(runs) > 2:
        return None
    pieces = [
        format_money(total, quote.currency) + (f" x{count}" if count > 1 else "")
        for total, count in runs
    ]
    return words["then"].join(pieces)


def disclosure_text(quote: Quote, language: str = "en") -> str:
    """A short GSM-7 cost-of-credit summary for a USSD screen, in "en" or "sw"."""
    words = _WORDS.get(language, _WORDS["en"])  # an unknown language falls back to English
    money = quote.currency
    every = words[quote.frequency]
    plan = _plan(quote, words)
    totals = [row.total for row in quote.installments]
    pay = (
        words["pay"].format(plan=plan, every=every)
        if plan
        else words["range"].format(
            n=quote.term,
            every=every,
            low=format_money(min(totals), money),
            high=format_money(max(totals), money),
        )
    )
    tail = [
        words["total"].format(total=format_money(quote.total_repayable, money)),
        words["cost"].format(cost=format_money(quote.total_cost_of_credit, money)),
        words["apr"].format(apr=quote.apr),
    ]
    get = [words["get"].format(net=format_money(quote.cash_received, money))]
    # A premium is a price the borrower pays: it is never the part dropped for space.
    cover = ([words["cover"].format(premium=format_money(quote.credit_life_premium, money))]
             if quote.credit_life_premium else [])
    # the amount received matters most when a fee is deducted; drop it if space is short
    deducted = quote.upfront_fee or quote.credit_life_premium
    full = " ".join([pay, *(get if deducted else []), *cover, *tail])
    return full if septets(full) <= SCREEN_BUDGET else " ".join([pay, *cover, *tail])
