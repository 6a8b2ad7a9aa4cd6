"""Loan products and quotes (CONTRACT: "Loan products and quotes")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from flask import Response, jsonify, request

from gateway.api.base import ApiError, bp, endpoint, int_arg, json_body, query
from gateway.database import get_session
from lending import catalog
from lending.disclosure import quote
from lending.errors import LendingError
from lending.localtime import today
from lending.models import Product
from lending.products import ProductError

assert bp  # the routes below register on the API blueprint

ANY_ROLE = ("operator", "field_partner", "lender")

PRODUCT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "name", "min_amount", "max_amount", "terms", "frequency",
                 "interest_method", "interest_rate"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"},
        "name": {"type": "string", "maxLength": 80},
        "currency": {"type": "string", "default": "KES"},
        "min_amount": {"type": "integer", "description": "minor units"},
        "max_amount": {"type": "integer", "description": "minor units"},
        "terms": {"type": "array", "minItems": 1,
                  "items": {"type": "integer", "minimum": 1, "maximum": 520},
                  "description": "allowed numbers of installments"},
        "frequency": {"type": "string", "enum": ["weekly", "fortnightly", "monthly"]},
        "interest_method": {"type": "string", "enum": ["flat", "declining"]},
        "interest_rate": {"type": "string", "description": "annual nominal percent, e.g. \"24\""},
        "upfront_fee_percent": {"type": "string", "default": "0"},
        "upfront_fee_flat": {"type": "integer", "default": 0},
        "grace_periods": {"type": "integer", "default": 0,
                          "description": "leading interest-only installments"},
        "penalty_kind": {"type": "string", "enum": ["none", "one_time", "daily"]},
        "penalty_percent": {"type": "string", "default": "0"},
        "penalty_cap_percent": {"type": "string"},
        "funding_window_days": {"type": "integer", "default": 14},
        "funding_mode": {"type": "string", "enum": ["all_or_nothing", "flexible"]},
        "share_unit": {"type": "integer", "default": 10_000},
        "max_active_loans": {"type": "integer", "default": 1},
        "overpayment": {"type": "string", "enum": ["credit", "prepay"]},
        "platform_interest_share_percent": {"type": "string", "default": "20"},
        "reminder_offsets": {"type": "array", "items": {"type": "integer"}},
        "credit_life_premium_percent": {
            "type": "string", "default": "0",
            "description": "credit-life cover premium, percent of the amount (0-10), deducted "
                           "at disbursement into the insurance pool; 0: no cover"},
    },
}


@contextmanager
def product_refusals() -> Iterator[None]:
    """Lending's refusals as API errors: 404 unknown, 409 taken, 400 with the field."""
    try:
        yield
    except ProductError as exc:
        raise ApiError(400, "invalid_request", exc.message, exc.field) from None
    except LendingError as exc:
        status = {"unknown_product": 404, "product_exists": 409}.get(exc.code, 400)
        raise ApiError(status, exc.code, exc.message, exc.field) from None


def product_json(product: Product) -> dict[str, Any]:
    """A product as the API shows it: its terms plus the platform's settings."""
    return {
        **product.to_terms().to_json(),
        "platform_interest_share_percent": product.platform_interest_share_percent,
        "reminder_offsets": list(product.reminder_offsets),
        "active": product.active,
        "created_at": product.created_at.isoformat(),
    }


@endpoint("/products", "POST", summary="Create a loan product", roles=("operator",),
          body=PRODUCT_SCHEMA,
          responses={201: "the product", 400: "a field is missing or wrong (error.field)",
                     409: "a product with this code exists"})
def create_product() -> tuple[Response, int]:
    """Validate and store a product; the body is exactly the product's fields."""
    session = get_session()
    with product_refusals():
        product = catalog.create_product(session, json_body())
    session.commit()
    return jsonify(product_json(product)), 201


@endpoint("/products", "GET", summary="List the products open to applications", roles=ANY_ROLE,
          responses={200: "{items: [product]}"})
def list_products() -> Response:
    """Every active product, by code."""
    products = catalog.list_products(get_session())
    return jsonify(items=[product_json(p) for p in products])


@endpoint("/products/<code>/quote", "GET", summary="Quote a loan: schedule, fee, cost, APR",
          roles=ANY_ROLE,
          parameters=[query("amount", "principal in minor units",
                            {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}, True),
                      query("term", "number of installments",
                            {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}, True),
                      query("start", "YYYY-MM-DD the schedule runs from (default: today)",
                            {"type": "string", "format": "date"})],
          responses={200: "installments, total_repayable, upfront_fee, net_disbursed, "
                          "total_cost_of_credit, apr (percent, one decimal); and, added: "
                          "credit_life_premium (deducted at disbursement, 0 without cover) "
                          "and cash_received (net_disbursed - credit_life_premium)",
                     400: "an amount, term or date the product does not allow",
                     404: "no product with this code"})
def quote_product(code: str) -> Response:
    """The cost of credit for an amount and term, before anyone accepts it."""
    amount = int_arg("amount", minimum=1)
    term = int_arg("term", minimum=1)
    start = _start_date()
    with product_refusals():
        product = catalog.get_product(get_session(), code)
        offer = quote(product.to_terms(), amount, term, start)
    return jsonify(offer.to_json())


def _start_date() -> date:
    raw = request.args.get("start", "").strip()
    if not raw:
        return today()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", "'start' must be a date as YYYY-MM-DD.",
                       "start") from None
