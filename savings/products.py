"""Savings products: the rate an account earns. One default product, "AKIBA", made on first use."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import insert_once
from savings.errors import SavingsError
from savings.models import SavingsProduct

DEFAULT_CODE = "AKIBA"
DEFAULT_RATE_BP = 600  # 6% a year
MAX_RATE_BP = 5000


def default_product(session: Session, currency: str = "KES") -> SavingsProduct:
    """The AKIBA product every new account opens on (created once, safely under concurrency)."""
    product = session.scalar(select(SavingsProduct).where(SavingsProduct.code == DEFAULT_CODE))
    if product is not None:
        return product
    insert_once(session, SavingsProduct, dict(
        code=DEFAULT_CODE, name="Akiba savings", currency=currency,
        annual_rate_bp=DEFAULT_RATE_BP, active=True), key="code")
    return session.scalars(select(SavingsProduct)
                           .where(SavingsProduct.code == DEFAULT_CODE)).one()


def set_rate(session: Session, code: str, annual_rate_bp: int) -> SavingsProduct:
    """An operator changes a product's rate; it applies from the next interest month on."""
    if isinstance(annual_rate_bp, bool) or not isinstance(annual_rate_bp, int) or not (
            0 <= annual_rate_bp <= MAX_RATE_BP):
        raise SavingsError("invalid_rate", "a rate in basis points from 0 to 5000", "rate")
    product = session.scalar(select(SavingsProduct).where(SavingsProduct.code == code))
    if product is None:
        raise SavingsError("unknown_product", f"no savings product {code}", "code")
    product.annual_rate_bp = annual_rate_bp
    return product


def rate_percent(annual_rate_bp: int) -> str:
    """600 -> "6", 625 -> "6.25": the rate as people read it."""
    whole, cents = divmod(annual_rate_bp, 100)
    return str(whole) if not cents else f"{whole}.{cents:02d}".rstrip("0")
