"""Quotes, APR and the USSD disclosure text: closed-form references and properties."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.gsm7 import is_gsm7, septets
from lending.disclosure import annual_percentage_rate, disclosure_text, quote
from lending.products import ProductError, ProductTerms, validate_product


def product(**overrides: Any) -> ProductTerms:
    """A permissive product; each test states only the terms it is about."""
    data: dict[str, Any] = {
        "code": "TEST",
        "name": "Test loan",
        "min_amount": 1000,
        "max_amount": 10**10,
        "terms": [1, 2, 3, 4, 6, 12],
        "frequency": "monthly",
        "interest_method": "flat",
        "interest_rate": "0",
    }
    data.update(overrides)
    return validate_product(data)


def present_value(totals: list[int], apr_percent: float, periods: int) -> float:
    """sum(total_k (1+X)^(-k/P)) in floats: an independent check of the Decimal solver."""
    growth = 1 + apr_percent / 100
    return sum(total * growth ** (-k / periods) for k, total in enumerate(totals, start=1))


def assert_apr_brackets_the_root(q) -> None:
    """The true APR lies within half a tenth of the shown one: PV straddles net."""
    totals = [row.total for row in q.installments]
    periods = {"weekly": 52, "fortnightly": 26, "monthly": 12}[q.frequency]
    shown = float(q.apr)
    assert present_value(totals, shown - 0.05, periods) >= q.net_disbursed * (1 - 1e-12)
    assert present_value(totals, shown + 0.05, periods) <= q.net_disbursed * (1 + 1e-12)


# --- APR closed forms ---


@pytest.mark.parametrize(
    ("net", "payments", "periods", "expected"),
    [
        # one repayment of 110 a year after receiving 100: 100 = 110 / (1+X) -> X = 10%.
        (100, [0] * 11 + [110], 12, "10.0"),
        (100, [0] * 51 + [110], 52, "10.0"),
        (100, [0] * 25 + [110], 26, "10.0"),
        # 121 two years later: (1+X)^2 = 1.21 -> X = 10%.
        (100, [0] * 23 + [121], 12, "10.0"),
        # 101 a month later: (1+X)^(1/12) = 1.01 -> X = 1.01^12 - 1 = 0.126825 -> 12.7.
        (100000, [101000], 12, "12.7"),
        # 100 a month after 99: X = (100/99)^12 - 1; ln(1.010101) = 0.0100503,
        #   x 12 = 0.1206040, e^0.1206040 = 1.128178 -> 12.8.
        (99000, [100000], 12, "12.8"),
        # 101 a month after 99: (101/99)^12 = 1.0202020^12; ln = 0.0200007, x 12 = 0.2400081,
        #   e^0.2400081 = 1.271259 -> 27.1.
        (99000, [101000], 12, "27.1"),
        # repaying exactly what was received costs nothing.
        (100000, [50000, 50000], 52, "0.0"),
    ],
)
def test_apr_closed_forms(net, payments, periods, expected):
    assert annual_percentage_rate(net, payments, periods) == Decimal(expected)


def test_apr_of_a_loan_repaid_with_less_than_received_is_negative():
    # 99 a year after 100: X = 0.99 - 1 = -1% exactly.
    assert annual_percentage_rate(100, [0] * 11 + [99], 12) == Decimal("-1.0")


def test_an_absurd_apr_is_still_a_number():
    # 1,000,000 a month after receiving 1: (1+X) = (10^6)^12 = 10^72 -> 10^74 percent.
    apr = annual_percentage_rate(1, [10**6], 12)
    assert Decimal("0.99e74") < apr < Decimal("1.01e74")
    assert apr.as_tuple().exponent == -1  # still shown with one decimal


def test_apr_needs_money_both_ways():
    with pytest.raises(ValueError):
        annual_percentage_rate(0, [100], 12)


# --- quotes ---


def test_declining_monthly_quote_in_the_contract_shape():
    # schedule worked by hand in test_schedule (A = 100000, 24% declining, 3 months):
    # totals 34675, 34675, 34676 -> 104026; no fee so net 100000, cost 4026.
    # APR: the monthly IRR is r = 0.02 but for cents, so X = 1.02^12 - 1 = 0.268242 -> 26.8.
    q = quote(
        product(interest_method="declining", interest_rate="24"), 100000, 3, date(2025, 1, 31)
    )
    assert q.to_json() == {
        "currency": "KES",
        "amount": 100000,
        "term": 3,
        "frequency": "monthly",
        "installments": [
            {
                "number": 1,
                "due_date": "2025-02-28",
                "principal": 32675,
                "interest": 2000,
                "total": 34675,
            },
            {
                "number": 2,
                "due_date": "2025-03-31",
                "principal": 33329,
                "interest": 1346,
                "total": 34675,
            },
            {
                "number": 3,
                "due_date": "2025-04-30",
                "principal": 33996,
                "interest": 680,
                "total": 34676,
            },
        ],
        "total_repayable": 104026,
        "upfront_fee": 0,
        "net_disbursed": 100000,
        "total_cost_of_credit": 4026,
        "apr": "26.8",
        # added beside the CONTRACT's fields: no cover on this product
        "credit_life_premium": 0,
        "cash_received": 100000,
    }


def test_declining_weekly_apr_is_the_compounded_periodic_rate():
    # r = 52/100/52 = 0.01 a week; totals 128141 x3 + 128140 = 512563 (see test_schedule).
    # X = 1.01^52 - 1: ln 1.01 = 0.00995033 x 52 = 0.5174172, e^ = 1.677689 -> 67.8.
    terms = product(interest_method="declining", interest_rate="52", frequency="weekly")
    q = quote(terms, 500000, 4, date(2025, 1, 6))
    assert (q.total_repayable, q.total_cost_of_credit, q.apr) == (512563, 12563, Decimal("67.8"))


def test_declining_fortnightly_apr_from_the_quadratic():
    # totals 101502, 101503 for 200000 (see test_schedule). With v = (1+X)^(-1/26):
    # 101503 v^2 + 101502 v - 200000 = 0;
    #   discriminant = 101502^2 + 4 x 101503 x 200000 = 10302656004 + 81202400000
    #              = 91505056004; sqrt = 302498.0264;
    #   v = (302498.0264 - 101502) / 203006 = 0.9900989; 1/v = 1.0100000 -> X = 1.01^26 - 1
    #   = 0.295256 -> 29.5.
    terms = product(interest_method="declining", interest_rate="26", frequency="fortnightly")
    q = quote(terms, 200000, 2, date(2025, 2, 20))
    v = (-101502 + math.sqrt(101502**2 + 4 * 101503 * 200000)) / (2 * 101503)
    assert round(v**-26 * 100 - 100, 1) == 29.5
    assert q.apr == Decimal("29.5")


def test_flat_weekly_quote_and_its_apr():
    # A = 400000, 130% flat, 4 weeks: 4 x 110000 = 440000, cost 40000 (see test_schedule).
    # weekly IRR i solves the annuity factor (1 - (1+i)^-4) / i = 400000 / 110000 = 3.636364:
    #   i = 3.90%: 1.039^4 = 1.165366, (1 - 0.858100) / 0.039 = 3.638466 (too high);
    #   i = 3.93%: 1.0393^4 = 1.166712, (1 - 0.857109) / 0.0393 = 3.635891 (too low);
    #   interpolate: 3.90 + 0.03 x (3.638466 - 3.636364) / (3.638466 - 3.635891) = 3.9245%.
    # X = 1.039245^52 - 1: 52 x ln 1.039245 = 52 x 0.0384944 = 2.001709; e^ = 7.4017 -> 640.2
    # (the second decimal is checked independently by the bracket below).
    q = quote(product(frequency="weekly", interest_rate="130"), 400000, 4, date(2025, 1, 6))
    assert (q.total_repayable, q.net_disbursed, q.total_cost_of_credit) == (440000, 400000, 40000)
    assert q.apr == Decimal("640.2")
    assert_apr_brackets_the_root(q)


def test_flat_monthly_quote_is_cross_checked():
    # totals 34999, 34999, 35002 for 100000 (see test_schedule); cost 5000.
    # monthly IRR i = 2.47972%: 34999/1.0247972 + 34999/1.0247972^2 + 35002/1.0247972^3
    #   = 34152.12 + 33325.74 + 32522.14 = 100000.00; X = 1.0247972^12 - 1 = 0.341699 -> 34.2.
    q = quote(product(interest_rate="20"), 100000, 3, date(2024, 1, 31))
    assert (q.total_repayable, q.total_cost_of_credit, q.apr) == (105000, 5000, Decimal("34.2"))
    assert_apr_brackets_the_root(q)


@pytest.mark.parametrize(
    ("fee_percent", "fee_flat", "amount", "fee"),
    [
        # 123450 x 2.5% = 3086.25 -> 3086; + 5000 flat = 8086.
        ("2.5", 5000, 123450, 8086),
        # 10100 x 2.5% = 252.5, a tie -> even 252.
        ("2.5", 0, 10100, 252),
        # 10300 x 2.5% = 257.5, a tie -> even 258.
        ("2.5", 0, 10300, 258),
        # flat only.
        ("0", 2500, 50000, 2500),
        # 99999 x 1.75% = 1749.9825 -> 1750.
        ("1.75", 0, 99999, 1750),
    ],
)
def test_upfront_fee_is_deducted_at_disbursement(fee_percent, fee_flat, amount, fee):
    terms = product(upfront_fee_percent=fee_percent, upfront_fee_flat=fee_flat, min_amount=10000)
    q = quote(terms, amount, 1, date(2025, 1, 1))
    assert (q.upfront_fee, q.net_disbursed) == (fee, amount - fee)
    # rate 0: the fee is the whole cost of credit
    assert q.total_cost_of_credit == fee


def test_fee_only_loan_apr():
    # rate 0, fee 1%: 990 received, 1000 repaid a month later -> (100/99)^12 - 1 -> 12.8.
    q = quote(product(upfront_fee_percent="1"), 100000, 1, date(2025, 1, 1))
    assert (q.net_disbursed, q.total_repayable, q.apr) == (99000, 100000, Decimal("12.8"))


def test_zero_cost_loan_has_zero_apr():
    q = quote(product(interest_method="declining"), 100000, 3, date(2025, 1, 1))
    assert (q.total_cost_of_credit, q.apr, q.to_json()["apr"]) == (0, Decimal("0.0"), "0.0")


@pytest.mark.parametrize(
    ("amount", "n", "field"),
    [(999, 3, "amount"), (10**10 + 1, 3, "amount"), (100000, 5, "term"), (100000, 0, "term")],
)
def test_quote_refuses_what_the_product_does_not_allow(amount, n, field):
    with pytest.raises(ProductError) as raised:
        quote(product(), amount, n, date(2025, 1, 1))
    assert raised.value.field == field


# --- the USSD text ---


def test_disclosure_text_in_english_and_swahili():
    q = quote(product(frequency="weekly", interest_rate="130"), 400000, 4, date(2025, 1, 6))
    assert disclosure_text(q, "en") == (
        "Pay KES 1,100 x4 weekly. Total KES 4,400. Cost KES 400. APR 640.2%"
    )
    assert disclosure_text(q, "sw") == (
        "Lipa KES 1,100 x4 kila wiki. Jumla KES 4,400. Gharama KES 400. APR 640.2%"
    )


def test_disclosure_text_names_the_different_last_installment():
    q = quote(
        product(interest_method="declining", interest_rate="24"), 100000, 3, date(2025, 1, 31)
    )
    assert disclosure_text(q) == (
        "Pay KES 346.75 x2, then KES 346.76 monthly. Total KES 1,040.26. Cost KES 40.26. APR 26.8%"
    )
    assert disclosure_text(q, "sw") == (
        "Lipa KES 346.75 x2, kisha KES 346.76 kila mwezi. Jumla KES 1,040.26. "
        "Gharama KES 40.26. APR 26.8%"
    )


def test_disclosure_text_says_what_arrives_when_a_fee_is_deducted():
    q = quote(product(upfront_fee_percent="1"), 100000, 1, date(2025, 1, 1))
    assert disclosure_text(q) == (
        "Pay KES 1,000 monthly. You get KES 990. Total KES 1,000. Cost KES 10. APR 12.8%"
    )
    assert disclosure_text(q, "sw") == (
        "Lipa KES 1,000 kila mwezi. Utapata KES 990. Jumla KES 1,000. Gharama KES 10. APR 12.8%"
    )


def test_disclosure_text_gives_a_range_for_uneven_plans():
    # 12% flat, 4 months, grace 1: I = 4000 (1000 each); principal 0, 33333, 33333, 33334.
    terms = product(interest_rate="12", grace_periods=1, terms=[4])
    q = quote(terms, 100000, 4, date(2025, 1, 1))
    assert disclosure_text(q).startswith("Pay 4 installments monthly, KES 10 to KES 343.34. ")
    assert disclosure_text(q, "sw").startswith("Lipa awamu 4 kila mwezi, KES 10 hadi KES 343.34. ")


def test_disclosure_text_falls_back_to_english():
    q = quote(product(), 100000, 1, date(2025, 1, 1))
    assert disclosure_text(q, "xx") == disclosure_text(q, "en")


# --- properties ---


@st.composite
def quotes(draw: st.DrawFn):
    """A random quote on a product with non-negative rate and fees."""
    grace = draw(st.integers(0, 2))
    n = draw(st.integers(grace + 1, 52))
    terms = product(
        frequency=draw(st.sampled_from(["weekly", "fortnightly", "monthly"])),
        interest_method=draw(st.sampled_from(["flat", "declining"])),
        interest_rate=str(Decimal(draw(st.integers(0, 20000))) / 100),
        upfront_fee_percent=str(Decimal(draw(st.integers(0, 2000))) / 100),
        upfront_fee_flat=draw(st.integers(0, 500)),
        grace_periods=grace,
        terms=[n],
    )
    amount = draw(st.integers(1000, 10**8))
    return quote(terms, amount, n, draw(st.dates(date(2000, 1, 1), date(2090, 1, 1))))


@settings(max_examples=150, deadline=None)
@given(quotes())
def test_quote_invariants(q):
    assert q.apr >= 0
    assert q.total_cost_of_credit >= 0
    assert q.total_repayable == sum(row.total for row in q.installments)
    assert q.net_disbursed + q.upfront_fee == q.amount
    assert q.total_cost_of_credit == q.total_repayable - q.net_disbursed
    assert q.apr == q.apr.quantize(Decimal("0.1"))
    if q.total_cost_of_credit == 0:
        assert q.apr == 0
    assert_apr_brackets_the_root(q)


@settings(max_examples=150, deadline=None)
@given(quotes(), st.sampled_from(["en", "sw"]))
def test_disclosure_text_fits_a_screen(q, language):
    text = disclosure_text(q, language)
    assert is_gsm7(text)
    assert septets(text) <= 130
    assert text.endswith(f"APR {q.apr}%")


def test_disclosure_text_names_the_life_cover_and_the_cash_that_arrives():
    q = quote(product(upfront_fee_percent="1", credit_life_premium_percent="1.5"), 100000, 1,
              date(2025, 1, 1))
    assert (q.net_disbursed, q.credit_life_premium, q.cash_received) == (99000, 1500, 97500)
    assert disclosure_text(q) == (
        "Pay KES 1,000 monthly. You get KES 975. Life cover KES 15. Total KES 1,000. "
        "Cost KES 10. APR 12.8%"
    )
    assert disclosure_text(q, "sw").startswith(
        "Lipa KES 1,000 kila mwezi. Utapata KES 975. Bima ya mkopo KES 15.")


@settings(max_examples=60, deadline=None)
@given(amount=st.integers(1000, 10**9), percent=st.sampled_from(["0", "0.5", "1.25", "3", "10"]),
       fee=st.sampled_from(["0", "1", "2.5"]))
def test_the_cover_never_changes_the_contract_figures(amount, percent, fee):
    covered = quote(product(credit_life_premium_percent=percent, upfront_fee_percent=fee),
                    amount, 3, date(2025, 1, 1))
    bare = quote(product(upfront_fee_percent=fee), amount, 3, date(2025, 1, 1))
    contract = ("installments", "total_repayable", "upfront_fee", "net_disbursed",
                "total_cost_of_credit", "apr")
    assert {k: covered.to_json()[k] for k in contract} == {k: bare.to_json()[k] for k in contract}
    assert covered.cash_received == covered.net_disbursed - covered.credit_life_premium
    assert covered.credit_life_premium == round(Decimal(amount) * Decimal(percent) / 100)
