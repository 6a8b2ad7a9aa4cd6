"""End-to-end fixtures: the real domain behind the real endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from lending.catalog import create_product
from lending.members import verify_member
from lending.models import FieldPartner

from support.ussd import Phone


@pytest.fixture
def ussd(client: Any) -> Any:
    """A phone dialling /ussd with the real domain behind it (no fake)."""

    return Phone(client, "+254722000111")


@pytest.fixture
def partner(session) -> FieldPartner:
    fp = FieldPartner(name="Tujenge Microfinance", region="Nakuru", risk_rating=2)
    session.add(fp)
    session.flush()
    return fp


@pytest.fixture
def product(session) -> Any:
    product = create_product(session, {
        "code": "BIASHARA", "name": "Biashara", "currency": "KES",
        "min_amount": 100_000, "max_amount": 5_000_000, "terms": [4, 8],
        "frequency": "weekly", "interest_method": "flat", "interest_rate": "24",
        "upfront_fee_percent": "1",
    })
    session.commit()
    return product


@pytest.fixture
def verify(session, partner) -> Any:
    def run(member_id: int) -> None:
        verify_member(session, member_id, partner.id, "field-officer")
        session.commit()
    return run
