"""The product catalogue: creating, finding and retiring loan products."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import utcnow
from lending.errors import LendingError
from lending.models import Product
from lending.products import ProductError, validate_product

PLATFORM_FIELDS = ("platform_interest_share_percent", "reminder_offsets")


def create_product(session: Session, data: Mapping[str, Any]) -> Product:
    """Validate and store a product; "product_exists" when the code is taken."""
    terms_data = {k: v for k, v in data.items() if k not in PLATFORM_FIELDS}
    try:
        terms = validate_product(terms_data)
    except ProductError as exc:
        raise LendingError("invalid_product", exc.message, field=exc.field) from None
    extra = {
        "platform_interest_share_percent": _share(data.get("platform_interest_share_percent")),
        "reminder_offsets": _offsets(data.get("reminder_offsets")),
    }
    product = Product.from_terms(terms, **extra, active=True, created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(product)
            session.flush()
    except IntegrityError:
        raise LendingError("product_exists", f"product {terms.code} exists") from None
    return product


def _share(value: Any) -> str:
    """The platform's share of interest in percent, a decimal string from 0 to 100."""
    if value is None:
        return "20"
    try:
        number = Decimal(str(value)) if isinstance(value, str | int) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or not 0 <= number <= 100:
        raise LendingError(
            "invalid_product", "must be a percentage from 0 to 100",
            field="platform_interest_share_percent",
        )
    return str(number)


def _offsets(value: Any) -> list[int]:
    """Reminder offsets in days from the due date (negative: before)."""
    if value is None:
        return [-3, 0, 1, 7]
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and -30 <= v <= 60 for v in value
    ):
        raise LendingError(
            "invalid_product", "must be a list of whole days from -30 to 60",
            field="reminder_offsets",
        )
    return sorted(set(value))


def get_product(session: Session, code: str) -> Product:
    """The product with this code, or LendingError("unknown_product")."""
    product = session.scalar(select(Product).where(Product.code == code))
    if product is None:
        raise LendingError("unknown_product", f"no product {code}")
    return product


def list_products(session: Session, *, active_only: bool = True) -> list[Product]:
    """Products by code; only the ones open to applications unless told otherwise."""
    query = select(Product).order_by(Product.code)
    if active_only:
        query = query.where(Product.active.is_(True))
    return list(session.scalars(query))


def set_product_active(session: Session, code: str, active: bool) -> Product:
    """Open or close a product to new applications (existing loans keep their terms)."""
    product = get_product(session, code)
    product.active = active
    return product
