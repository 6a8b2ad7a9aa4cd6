"""A small world for impact tests, built through the real services: partners, borrowers with
gender and sector, loans disbursed and repaid, and survey answers given through the panel."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

import ledger
from core.clock import utcnow
from impact import panel
from impact.models import SurveyResponse
from impact.surveys import define_survey
from ledger import MOBILE_MONEY_FLOAT, credit, debit, lender_wallet
from lending import members
from lending.applications import apply_for_loan, approve_loan
from lending.catalog import create_product
from lending.disbursement import complete_disbursement, start_disbursement
from lending.funding import fund_loan
from lending.models import FieldPartner, Loan, Member, Product
from lending.protection import set_credit_limit
from lending.repayments import record_repayment

_n = itertools.count(1)
TZ = "Africa/Nairobi"


def option(text: str, score: int | None) -> dict[str, Any]:
    return {"text": {"en": text, "sw": f"{text} sw"}, "score": score}


TEST_SURVEY: dict[str, Any] = {
    "code": "test-survey", "name": "Test survey", "sample_rate": "1",
    "milestones": ["disbursed"], "dimensions": ["business", "home"],
    "questions": [
        {"id": "sales", "dimension": "business", "text": {"en": "Sales?", "sw": "Mauzo?"},
         "options": [option("Low", 0), option("Mid", 1), option("High", 2), option("Top", 4)]},
        {"id": "meals", "dimension": "home", "text": {"en": "Meals?", "sw": "Milo?"},
         "options": [option("Few", 0), option("Enough", 2)]},
    ],
}
"""Option n of 'sales' scores 0, 25, 50, 100; of 'meals' 0 or 100."""


class World:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._product: Product | None = None

    def partner(self, name: str | None = None) -> FieldPartner:
        partner = FieldPartner(name=name or f"Partner {next(_n)}", region="Kisumu",
                               risk_rating=2)
        self.session.add(partner)
        self.session.flush()
        return partner

    def product(self) -> Product:
        if self._product is None:
            self._product = create_product(self.session, {
                "code": f"IMP{next(_n)}", "name": "Biashara", "min_amount": 50_000,
                "max_amount": 5_000_000, "terms": [4], "frequency": "weekly",
                "interest_method": "flat", "interest_rate": "52"})
        return self._product

    def member(self, partner: FieldPartner | None = None, *, gender: str = "f",
               sector: str = "retail", language: str = "en", verified: bool = True) -> Member:
        n = next(_n)
        member = members.register_member(
            self.session, phone=f"+2547229{n:05d}", first_name=f"Wanjiku{n}",
            national_id=f"IMP{n}", pin="4821", language=language, consent=True,
            gender=gender, sector=sector)
        if verified:
            members.verify_member(self.session, member.id, (partner or self.partner()).id,
                                  "officer")
        return member

    def loan(self, member: Member, amount: int = 100_000, at: datetime | None = None) -> Loan:
        """Applied, approved, funded by a new lender and disbursed (KES 1,000: 4 x 260)."""
        product = self.product()
        set_credit_limit(self.session, member.id, max(amount, 200_000), actor="t", reason="t")
        loan = apply_for_loan(self.session, member_id=member.id, product_code=product.code,
                              amount=amount, term=4, purpose="stock",
                              idempotency_key=f"imp-app-{next(_n)}")
        approve_loan(self.session, loan.id, actor="officer")
        lender = self.member()
        members.become_lender(self.session, lender.id)
        ledger.post(self.session, f"imp-dep-{lender.id}", "deposit",
                    [debit(MOBILE_MONEY_FLOAT, amount), credit(lender_wallet(lender.id), amount)])
        fund_loan(self.session, loan_id=loan.id, lender_id=lender.id,
                  shares=-(-amount // product.share_unit), idempotency_key=f"imp-f-{next(_n)}")
        start_disbursement(self.session, loan.id, actor="payments")
        return complete_disbursement(self.session, loan.id, receipt=f"RI{next(_n)}",
                                     occurred_at=at or utcnow())

    def repay(self, loan: Loan, amount: int) -> None:
        record_repayment(self.session, loan_id=loan.id, amount=amount, key=f"imp-r-{next(_n)}",
                         source="manual")

    def survey(self) -> Any:
        return define_survey(self.session, TEST_SURVEY, "test", activate=True)

    def answer(self, member: Member, answers: dict[str, int], at: datetime
               ) -> SurveyResponse:
        """The invitation she is due at `at`, consented to and answered."""
        invitation = panel.invite_if_due(self.session, member.id, at, TZ)
        assert invitation is not None, "not due a survey"
        panel.consent(self.session, member.id, invitation.id, at)
        return panel.record_response(self.session, member.id, invitation.id, answers, at)

    def baseline_and_followup(self, member: Member, before: dict[str, int],
                              after: dict[str, int], start: datetime) -> None:
        self.answer(member, before, start)
        self.loan(member, at=start + timedelta(days=10))
        self.answer(member, after, start + timedelta(days=40))


@pytest.fixture
def world(session: Session, clock: Any) -> World:
    return World(session)
