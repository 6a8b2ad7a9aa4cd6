"""Shared values and builders for console tests."""

from __future__ import annotations

import itertools
from typing import Any

import ledger
from core.clock import utcnow
from ledger import MOBILE_MONEY_FLOAT, credit, debit, lender_wallet
from lending import members
from lending.applications import apply_for_loan, approve_loan
from lending.catalog import create_product
from lending.disbursement import complete_disbursement, start_disbursement
from lending.funding import fund_loan
from lending.models import FieldPartner, Loan
from lending.protection import set_credit_limit

PASSWORD = "correct horse battery"
_n = itertools.count(1)


class Applications:
    """Pending applications from the borrowers of a field partner, via lending's services."""

    def __init__(self, session: Any, *, commit: bool = True) -> None:
        self.session, self.commit = session, commit
        self.product = create_product(session, {
            "code": f"OPS{next(_n)}", "name": "Weekly", "min_amount": 50_000,
            "max_amount": 5_000_000, "terms": [4], "frequency": "weekly",
            "interest_method": "flat", "interest_rate": "52"})

    def partner(self) -> FieldPartner:
        partner = FieldPartner(name=f"Partner {next(_n)}", region="Meru", risk_rating=2)
        self.session.add(partner)
        self.session.flush()
        return partner

    def pending(self, partner: FieldPartner, phone: str | None = None) -> Loan:
        n = next(_n)
        member = members.register_member(
            self.session, phone=phone or f"+25474{n:07d}", first_name=f"Njeri{n}",
            national_id=f"OPS{n}", pin="4821", language="en", consent=True)
        members.verify_member(self.session, member.id, partner.id, "officer")
        set_credit_limit(self.session, member.id, 1_000_000, actor="test", reason="setup")
        loan = apply_for_loan(self.session, member_id=member.id,
                              product_code=self.product.code, amount=100_000, term=4,
                              purpose="poultry feed", idempotency_key=f"ops-{n}")
        if self.commit:  # inside a test's outer transaction, commit only releases a savepoint
            self.session.commit()
        return loan

    def active(self, partner: FieldPartner) -> Loan:
        """An application approved, funded by one lender and paid out now."""
        loan = approve_loan(self.session, self.pending(partner).id, actor="officer")
        n = next(_n)
        lender = members.register_member(
            self.session, phone=f"+25473{n:07d}", first_name=f"Wanjiku{n}",
            national_id=f"LND{n}", pin="4821", language="en", consent=True)
        members.become_lender(self.session, lender.id)
        ledger.post(self.session, f"ops-deposit:{lender.id}", "deposit",
                    [debit(MOBILE_MONEY_FLOAT, loan.amount),
                     credit(lender_wallet(lender.id), loan.amount)])
        fund_loan(self.session, loan_id=loan.id, lender_id=lender.id,
                  shares=-(-loan.amount // loan.product.share_unit), idempotency_key=f"of-{n}")
        start_disbursement(self.session, loan.id, actor="payments")
        loan = complete_disbursement(self.session, loan.id, receipt=f"OPSR{n}",
                                     occurred_at=utcnow())
        if self.commit:
            self.session.commit()
        return loan
