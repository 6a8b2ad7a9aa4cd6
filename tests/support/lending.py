"""Builders for lending tests: partners, products, members, and loans in any state."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

import ledger
from core.clock import utcnow
from core.money import allocate
from ledger import MOBILE_MONEY_FLOAT, credit, debit, lender_wallet
from lending import members
from lending.applications import apply_for_loan, approve_loan
from lending.catalog import create_product
from lending.disbursement import complete_disbursement, start_disbursement
from lending.funding import fund_loan
from lending.models import FieldPartner, Loan, Member, Product
from lending.protection import set_credit_limit

_serial = itertools.count(1)

# KES 1,000 over 4 weeks at 52% flat: 1% a week, so 4 x (250 + 10) = KES 1,040.
SIMPLE_PRODUCT: dict[str, Any] = {
    "name": "Biashara weekly", "min_amount": 50_000, "max_amount": 5_000_000,
    "terms": [4, 8, 12], "frequency": "weekly", "interest_method": "flat",
    "interest_rate": "52",
}


class Lending:
    """Sets up lending scenarios through the real services."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def partner(self, region: str = "Kisumu") -> FieldPartner:
        partner = FieldPartner(name=f"Partner {next(_serial)}", region=region, risk_rating=2)
        self.session.add(partner)
        self.session.flush()
        return partner

    def product(self, **overrides: Any) -> Product:
        data = {**SIMPLE_PRODUCT, "code": f"P{next(_serial)}", **overrides}
        return create_product(self.session, data)

    def member(self, *, verified: bool = True, limit: int | None = None,
               partner: FieldPartner | None = None, **fields: Any) -> Member:
        n = next(_serial)
        values: dict[str, Any] = {
            "phone": f"+25471{n:07d}", "first_name": f"Amina{n}", "national_id": f"ID{n}",
            "pin": "4821", "language": "en", "consent": True, **fields,
        }
        member = members.register_member(self.session, **values)
        if verified:
            partner = partner or self.partner()
            members.verify_member(self.session, member.id, partner.id, "officer")
        if limit is not None:
            set_credit_limit(self.session, member.id, limit, actor="test", reason="setup")
        return member

    def lender(self, wallet: int = 0) -> Member:
        member = self.member()
        members.become_lender(self.session, member.id)
        if wallet:
            self.deposit(member.id, wallet)
        return member

    def deposit(self, member_id: int, amount: int) -> None:
        ledger.post(self.session, f"deposit:{member_id}:{next(_serial)}", "deposit",
                    [debit(MOBILE_MONEY_FLOAT, amount), credit(lender_wallet(member_id), amount)])

    def application(
        self, *, amount: int = 100_000, term: int = 4, product: Product | None = None,
        borrower: Member | None = None,
    ) -> Loan:
        product = product or self.product()
        borrower = borrower or self.member(limit=max(amount, 200_000))
        return apply_for_loan(
            self.session, member_id=borrower.id, product_code=product.code, amount=amount,
            term=term, purpose="stock for the kiosk", idempotency_key=f"app-{next(_serial)}",
        )

    def fundraising(self, **kwargs: Any) -> Loan:
        loan = self.application(**kwargs)
        return approve_loan(self.session, loan.id, actor="officer")

    def funded(self, weights: Sequence[int] = (1,), **kwargs: Any) -> Loan:
        """A fully funded loan; lenders take shares in proportion to `weights`."""
        loan = self.fundraising(**kwargs)
        unit = loan.product.share_unit
        total_shares = -(-loan.amount // unit)
        counts = _split_shares(total_shares, weights)
        for count in counts:
            lender = self.lender(wallet=count * unit)
            fund_loan(self.session, loan_id=loan.id, lender_id=lender.id, shares=count,
                      idempotency_key=f"fund-{next(_serial)}")
        return loan

    def active(self, weights: Sequence[int] = (1,), at: datetime | None = None,
               **kwargs: Any) -> Loan:
        loan = self.funded(weights, **kwargs)
        start_disbursement(self.session, loan.id, actor="payments")
        return complete_disbursement(self.session, loan.id, receipt=f"R{next(_serial)}",
                                     occurred_at=at or utcnow())


def _split_shares(total: int, weights: Sequence[int]) -> list[int]:
    """Shares per lender: one each, the rest in proportion to `weights`."""
    if len(weights) > total:
        raise ValueError("more lenders than shares")
    return [1 + part for part in allocate(total - len(weights), list(weights))]


@pytest.fixture
def lending(session: Session, clock: Any) -> Lending:
    return Lending(session)


@pytest.fixture
def builder(clock: Any) -> type[Lending]:
    """The builder class, for tests that bring their own (committed) sessions."""
    return Lending
