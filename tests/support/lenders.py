"""Lender tests: a small world of partners, borrowers, lenders and fundraising loans."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

import ledger
from ledger import MOBILE_MONEY_FLOAT, credit, debit, lender_wallet
from lending import members
from lending.applications import apply_for_loan, approve_loan
from lending.catalog import create_product
from lending.models import FieldPartner, Loan, Member, Product
from lending.protection import set_credit_limit

from support.ussd import Phone

PIN = "4826"
_numbers = itertools.count(1)


def unique_phone() -> str:
    """A Safaricom-shaped number no other test uses (tests may share a committed DB)."""
    return f"+2547{uuid.uuid4().int % 10**8:08d}"


class World:
    """Builds lender scenarios through the real lending services."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def partner(self, risk: int = 2, region: str = "Kisumu") -> FieldPartner:
        partner = FieldPartner(name=f"Partner {next(_numbers)}", region=region,
                               risk_rating=risk)
        self.session.add(partner)
        self.session.flush()
        return partner

    def product(self, share_unit: int = 10_000, **overrides: Any) -> Product:
        return create_product(self.session, {
            "code": f"L{uuid.uuid4().hex[:8]}", "name": "Biashara", "min_amount": 10_000,
            "max_amount": 10_000_000, "terms": [4, 8], "frequency": "weekly",
            "interest_method": "flat", "interest_rate": "26", "share_unit": share_unit,
            **overrides,
        })

    def member(self, *, first_name: str = "Amina", gender: str | None = "f",
               region: str | None = "Kisumu", sector: str | None = "farming",
               place: str | None = "Kondele", risk: int = 2, language: str = "en",
               phone: str | None = None) -> Member:
        member = members.register_member(
            self.session, phone=phone or unique_phone(), first_name=first_name,
            national_id=f"N{uuid.uuid4().hex[:10]}", pin=PIN, language=language, consent=True,
            gender=gender, region=region, sector=sector,
        )
        member.place = place
        members.verify_member(self.session, member.id, self.partner(risk, region or "").id,
                              "officer")
        self.session.flush()
        return member

    def lender(self, wallet: int = 0, **fields: Any) -> Member:
        member = self.member(**{"first_name": "Lena", "gender": "m", **fields})
        members.become_lender(self.session, member.id)
        self.session.flush()
        if wallet:
            self.deposit(member.id, wallet)
        return member

    def deposit(self, lender_id: int, amount: int) -> None:
        ledger.post(self.session, f"test-deposit:{uuid.uuid4().hex}", "deposit",
                    [debit(MOBILE_MONEY_FLOAT, amount), credit(lender_wallet(lender_id), amount)],
                    member_id=lender_id)

    def loan(self, amount: int = 50_000, *, product: Product | None = None,
             borrower: Member | None = None, **borrower_fields: Any) -> Loan:
        """A loan open for fundraising."""
        borrower = borrower or self.member(**borrower_fields)
        if amount > borrower.credit_limit:
            set_credit_limit(self.session, borrower.id, amount, actor="test", reason="setup")
        loan = apply_for_loan(
            self.session, member_id=borrower.id, product_code=(product or self.product()).code,
            amount=amount, term=4, purpose="stock for the shop",
            idempotency_key=f"apply-{uuid.uuid4().hex}",
        )
        approve_loan(self.session, loan.id, actor="officer")
        self.session.flush()  # requests in the test share the connection, not this session
        return loan


@pytest.fixture
def world(session: Session, clock: Any) -> World:
    return World(session)


@pytest.fixture
def token(session: Session) -> Any:
    """Bearer headers for a new key: token("operator"), token("lender", owner_id=7)."""
    from gateway.api_keys import create_api_key
    from gateway.operators import create_operator

    def make(role: str, owner_id: int | None = None) -> dict[str, str]:
        if role == "operator" and owner_id is None:
            owner_id = create_operator(session, email=f"lenders-op-{next(_numbers)}@mkopo.test",
                                       password="correct horse battery", role="admin").id
        _, secret = create_api_key(session, role=role, owner_id=owner_id)
        session.commit()
        return {"Authorization": f"Bearer {secret}"}

    return make


@pytest.fixture
def world_on() -> type[World]:
    """The builder class, for tests that bring their own (committed) session."""
    return World


@pytest.fixture
def handset(client: Any, clock: Any) -> Any:
    """A phone on the real /ussd endpoint with the real domain: handset(member).dial(...)."""

    return lambda member: Phone(client, member.phone)
