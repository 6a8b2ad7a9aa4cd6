"""Product validation: what an operator may define, and what a borrower may ask for."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending.products import (
    PRODUCT_FIELDS,
    ProductError,
    ProductTerms,
    check_request,
    net_of_fee,
    upfront_fee,
    validate_product,
)


def valid(**overrides: Any) -> dict[str, Any]:
    """A valid product body as the API receives it, with overrides."""
    body: dict[str, Any] = {
        "code": "BIASHARA-4W",
        "name": "Biashara weekly",
        "currency": "KES",
        "min_amount": 50_000,
        "max_amount": 2_000_000,
        "terms": [8, 4],
        "frequency": "weekly",
        "interest_method": "flat",
        "interest_rate": "18.5",
    }
    body.update(overrides)
    return body


def test_a_minimal_product_gets_the_documented_defaults():
    terms = validate_product(valid())
    assert terms == ProductTerms(
        code="BIASHARA-4W",
        name="Biashara weekly",
        currency="KES",
        min_amount=50_000,
        max_amount=2_000_000,
        terms=(4, 8),
        frequency="weekly",
        interest_method="flat",
        interest_rate=Decimal("18.5"),
        upfront_fee_percent=Decimal(0),
        upfront_fee_flat=0,
        grace_periods=0,
        penalty_kind="none",
        penalty_percent=Decimal(0),
        penalty_cap_percent=Decimal(0),
        funding_window_days=14,
        funding_mode="all_or_nothing",
        share_unit=10_000,
        max_active_loans=1,
        overpayment="credit",
    )
    assert terms.periods_per_year == 52


def test_every_field_can_be_set():
    terms = validate_product(
        valid(
            interest_method="declining",
            interest_rate=24,
            upfront_fee_percent="2.5",
            upfront_fee_flat=5000,
            grace_periods=2,
            penalty_kind="daily",
            penalty_percent="0.5",
            penalty_cap_percent="10",
            funding_window_days=30,
            funding_mode="flexible",
            share_unit=50_000,
            max_active_loans=2,
            overpayment="prepay",
            frequency="fortnightly",
        )
    )
    assert (terms.interest_rate, terms.upfront_fee_percent, terms.upfront_fee_flat) == (
        Decimal(24),
        Decimal("2.5"),
        5000,
    )
    assert (terms.grace_periods, terms.penalty_kind, terms.penalty_percent) == (
        2,
        "daily",
        Decimal("0.5"),
    )
    assert (terms.penalty_cap_percent, terms.funding_window_days, terms.funding_mode) == (
        Decimal(10),
        30,
        "flexible",
    )
    assert (terms.share_unit, terms.max_active_loans, terms.overpayment) == (50_000, 2, "prepay")
    assert terms.periods_per_year == 26


def test_a_one_time_penalty_is_its_own_cap():
    terms = validate_product(valid(penalty_kind="one_time", penalty_percent="5"))
    assert terms.penalty_cap_percent == Decimal(5)


def test_to_json_round_trips():
    terms = validate_product(valid(upfront_fee_percent="1.25", grace_periods=1, terms=[4, 8]))
    assert terms.to_json()["interest_rate"] == "18.5"
    assert validate_product(terms.to_json()) == terms


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code", ""),
        ("code", "has space"),
        ("code", "X" * 33),
        ("code", 7),
        ("name", ""),
        ("name", "   "),
        ("name", "n" * 81),
        ("name", ["list"]),
        ("currency", "EUR"),
        ("currency", ["KES"]),
        ("currency", {"KES": 1}),
        ("min_amount", 0),
        ("min_amount", -5),
        ("min_amount", 500.0),
        ("min_amount", "50000"),
        ("min_amount", True),
        ("max_amount", 10**12 + 1),
        ("max_amount", 2e6),
        ("terms", []),
        ("terms", "4"),
        ("terms", [4, 0]),
        ("terms", [4, 4]),
        ("terms", [4.0]),
        ("terms", [4, 521]),
        ("terms", [True]),
        ("frequency", "daily"),
        ("frequency", "Weekly"),
        ("interest_method", "compound"),
        ("interest_rate", 18.5),
        ("interest_rate", "abc"),
        ("interest_rate", "-1"),
        ("interest_rate", "NaN"),
        ("interest_rate", "Infinity"),
        ("interest_rate", "1000.01"),
        ("interest_rate", "18.55555"),
        ("interest_rate", ""),
        ("interest_rate", True),
        ("upfront_fee_percent", "100"),
        ("upfront_fee_percent", 2.5),
        ("upfront_fee_percent", "-0.5"),
        ("upfront_fee_flat", -1),
        ("upfront_fee_flat", 10.5),
        ("grace_periods", -1),
        ("grace_periods", 4),
        ("penalty_kind", "weekly"),
        ("penalty_percent", "101"),
        ("penalty_cap_percent", "x"),
        ("funding_window_days", 0),
        ("funding_window_days", 91),
        ("funding_mode", "partial"),
        ("share_unit", 0),
        ("max_active_loans", 0),
        ("max_active_loans", 11),
        ("overpayment", "refund"),
        ("colour", "blue"),
    ],
)
def test_bad_fields_are_named(field, value):
    with pytest.raises(ProductError) as raised:
        validate_product(valid(**{field: value}))
    assert raised.value.field == field


@pytest.mark.parametrize(
    "field",
    [
        "code",
        "name",
        "min_amount",
        "max_amount",
        "terms",
        "frequency",
        "interest_method",
        "interest_rate",
    ],
)
def test_required_fields_are_named_when_missing(field):
    body = valid()
    del body[field]
    with pytest.raises(ProductError) as raised:
        validate_product(body)
    assert (raised.value.field, raised.value.message) == (field, "is required")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"min_amount": 300_000, "max_amount": 200_000}, "min_amount"),
        ({"grace_periods": 4, "terms": [4, 8]}, "grace_periods"),
        ({"penalty_percent": "5"}, "penalty_percent"),
        ({"penalty_cap_percent": "5"}, "penalty_percent"),
        ({"penalty_kind": "one_time"}, "penalty_percent"),
        ({"penalty_kind": "daily", "penalty_percent": "1"}, "penalty_cap_percent"),
        (
            {"penalty_kind": "daily", "penalty_percent": "5", "penalty_cap_percent": "2"},
            "penalty_cap_percent",
        ),
        ({"upfront_fee_flat": 50_000}, "upfront_fee_flat"),
        ({"min_amount": 1, "upfront_fee_percent": "60"}, "upfront_fee_percent"),
    ],
)
def test_rules_across_fields(overrides, field):
    with pytest.raises(ProductError) as raised:
        validate_product(valid(**overrides))
    assert raised.value.field == field


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(ProductError) as raised:
        validate_product(["code"])  # type: ignore[arg-type]
    assert raised.value.field == "body"


def test_the_error_reads_as_field_and_message():
    error = ProductError("amount", "must be between 1 and 2")
    assert str(error) == "amount: must be between 1 and 2"
    assert isinstance(error, ValueError)


# --- requests against a product ---


@pytest.mark.parametrize(
    ("amount", "n", "field"),
    [
        (49_999, 4, "amount"),
        (2_000_001, 4, "amount"),
        (100_000.0, 4, "amount"),
        ("100000", 4, "amount"),
        (True, 4, "amount"),
        (100_000, 5, "term"),
        (100_000, 0, "term"),
        (100_000, "4", "term"),
    ],
)
def test_requests_outside_the_product_are_refused(amount, n, field):
    terms = validate_product(valid())
    with pytest.raises(ProductError) as raised:
        check_request(terms, amount, n)
    assert raised.value.field == field


@pytest.mark.parametrize(("amount", "n"), [(50_000, 4), (2_000_000, 8), (1_234_567, 4)])
def test_requests_inside_the_product_pass(amount, n):
    assert check_request(validate_product(valid()), amount, n) is None


def test_fee_arithmetic():
    # 50000 x 2.5% = 1250 + 1000 flat = 2250; net 47750.
    # 50100 x 2.5% = 1252.5, a tie -> even 1252, + 1000 = 2252.
    terms = validate_product(valid(upfront_fee_percent="2.5", upfront_fee_flat=1000))
    assert (upfront_fee(terms, 50_000), net_of_fee(terms, 50_000)) == (2250, 47750)
    assert upfront_fee(terms, 50_100) == 2252


# --- garbage ---

garbage = st.one_of(
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.lists(st.text(max_size=3), min_size=1, max_size=3),
    st.text(alphabet=" \t\n", min_size=1, max_size=5),  # blank: no field accepts it
)


@settings(max_examples=300)
@given(st.sampled_from(sorted(PRODUCT_FIELDS)), garbage)
def test_garbage_in_any_field_is_refused_naming_that_field(field, value):
    with pytest.raises(ProductError) as raised:
        validate_product(valid(**{field: value}))
    assert raised.value.field == field


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=12), st.one_of(st.integers(), st.text(max_size=8))))
def test_random_bodies_give_a_product_or_a_product_error(body):
    try:
        terms = validate_product(body)
    except ProductError as error:
        # the named field is one the body sent (unknown or bad) or a product field it lacks
        assert error.field in body or error.field in PRODUCT_FIELDS
        assert error.message
    else:  # pragma: no cover - a random body almost never passes
        assert isinstance(terms, ProductTerms)


@settings(max_examples=200)
@given(
    st.integers(1, 10**9),
    st.integers(1, 10**9),
    st.lists(st.integers(1, 520), min_size=1, max_size=6, unique=True),
    st.integers(0, 100_000).map(lambda hundredths: str(Decimal(hundredths) / 100)),
)
def test_valid_numbers_are_accepted_as_given(low, high, terms, rate):
    low, high = min(low, high), max(low, high)
    product = validate_product(
        valid(min_amount=low, max_amount=high, terms=terms, interest_rate=rate)
    )
    assert (product.min_amount, product.max_amount) == (low, high)
    assert product.terms == tuple(sorted(terms))
    assert product.interest_rate == Decimal(rate)


@pytest.mark.parametrize(("value", "ok"), [
    ("0", True), ("1.5", True), ("10", True), (2, True),
    ("10.01", False), ("-1", False), (1.5, False), ("abc", False), (True, False),
])
def test_the_credit_life_premium_is_a_percent_up_to_ten(value, ok):
    data = {"code": "P", "name": "P", "min_amount": 1000, "max_amount": 5000, "terms": [1],
            "frequency": "monthly", "interest_method": "flat", "interest_rate": "10",
            "credit_life_premium_percent": value}
    if ok:
        assert validate_product(data).credit_life_premium_percent == Decimal(str(value))
    else:
        with pytest.raises(ProductError) as refused:
            validate_product(data)
        assert refused.value.field == "credit_life_premium_percent"


def test_fee_and_premium_may_not_swallow_the_minimum():
    data = {"code": "P", "name": "P", "min_amount": 1000, "max_amount": 5000, "terms": [1],
            "frequency": "monthly", "interest_method": "flat", "interest_rate": "10",
            "upfront_fee_flat": 950, "credit_life_premium_percent": "5"}
    with pytest.raises(ProductError) as refused:
        validate_product(data)
    assert refused.value.field == "credit_life_premium_percent"
