"""Helpers for reconciliation tests: our records, a statement file, a run, the breaks."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.models import PaymentIntent, ReconciliationBreak
from reconciliation.config import ReconConfig
from reconciliation.models import ReconMatch
from reconciliation.run import RunSummary, reconcile
from reconciliation.statements import ImportReport, import_statement

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURES_STATEMENT = FIXTURES / "mpesa_statement_sample.csv"
HEADER = ["Receipt No.", "Completion Time", "Initiation Time", "Details", "Transaction Status",
          "Paid In", "Withdrawn", "Balance", "Balance Confirmed", "Reason Type",
          "Other Party Info", "Linked Transaction ID", "A/C No."]
T0 = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)  # 10:00 in Nairobi
EAT = timedelta(hours=3)
_ids = itertools.count(1)


def csv_bytes(rows: list[list[str]], header: list[str] | None = None) -> bytes:
    """A statement export as the portal writes it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header or HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


def row(receipt: str, amount: int, *, at: datetime = T0, reference: str = "",
        phone: str = "25471****101", name: str = "Grace", balance: str = "100000.00") -> list[str]:
    """One statement row: a positive amount is paid in, a negative one withdrawn (minor units)."""
    local = (at + EAT).strftime("%Y-%m-%d %H:%M:%S")
    shillings = f"{abs(amount) / 100:.2f}"
    paid_in, withdrawn = (shillings, "") if amount > 0 else ("", shillings)
    details = (f"Pay Bill from {phone} - {name} Acc. {reference}" if amount > 0
               else f"Business Payment to {phone} - {name}")
    return [receipt, local, local, details, "Completed", paid_in, withdrawn, balance, "true",
            "Pay Bill Online" if amount > 0 else "Business Payment", f"{phone} - {name}", "",
            reference]


class World:
    """Builds our side and the provider's side of a day, then reconciles them."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def intent(self, amount: int, *, receipt: str | None = None, kind: str = "repayment",
               reference: str = "L1042", phone: str = "+254712345101",
               status: str = "succeeded", at: datetime = T0, checkout: str | None = None,
               conversation: str | None = None, deadline: datetime | None = None,
               loan_id: int | None = None) -> PaymentIntent:
        n = next(_ids)
        intent = PaymentIntent(
            kind=kind, phone=phone, amount=amount, currency="KES", reference=reference,
            idempotency_key=f"test-intent-{n}-{id(self)}", status=status, receipt=receipt,
            checkout_request_id=checkout, originator_conversation_id=conversation,
            deadline_at=deadline or at + timedelta(minutes=3), status_queries=0,
            created_at=at, settled_at=at if status == "succeeded" else None, loan_id=loan_id,
        )
        self.session.add(intent)
        self.session.flush()
        return intent

    def statement(self, *rows: list[str], name: str = "statement.csv") -> ImportReport:
        data = csv_bytes(list(rows))
        report = import_statement(self.session, io.BytesIO(data), file_name=name,
                                  actor="test")
        assert report.ok, report.errors
        return report

    def run(self, now: datetime | None = None, **knobs: Any) -> RunSummary:
        return reconcile(self.session, config=ReconConfig(**knobs),
                         now=now or T0 + timedelta(days=1))

    def breaks(self, type_: str | None = None) -> list[ReconciliationBreak]:
        query = select(ReconciliationBreak).order_by(ReconciliationBreak.id)
        if type_:
            query = query.where(ReconciliationBreak.type == type_)
        return list(self.session.scalars(query))

    def matches(self) -> list[tuple[str, str]]:
        """(statement receipt, rule) for every pair, in order."""
        from reconciliation.statements import StatementLine

        rows = self.session.execute(
            select(StatementLine.receipt, ReconMatch.rule)
            .join(ReconMatch, ReconMatch.statement_line_id == StatementLine.id)
            .order_by(ReconMatch.id))
        return [(r, rule) for r, rule in rows]


class Loans:
    """Loans in the states reconciliation needs, made through lending's own services."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def partner(self) -> Any:
        from lending.models import FieldPartner

        partner = FieldPartner(name=f"Partner {next(_ids)}", region="Kisumu", risk_rating=2)
        self.session.add(partner)
        self.session.flush()
        return partner

    def product(self) -> Any:
        from lending.catalog import create_product

        return create_product(self.session, {
            "code": f"RW{next(_ids)}", "name": "Weekly", "min_amount": 50_000,
            "max_amount": 5_000_000, "terms": [4], "frequency": "weekly",
            "interest_method": "flat", "interest_rate": "52"})

    def borrower(self, partner: Any = None) -> Any:
        from lending import members
        from lending.protection import set_credit_limit

        n = next(_ids)
        member = members.register_member(
            self.session, phone=f"+25472{n:07d}", first_name=f"Wanjiru{n}",
            national_id=f"RW{n}", pin="4821", language="en", consent=True)
        partner = partner or self.partner()
        members.verify_member(self.session, member.id, partner.id, "officer")
        set_credit_limit(self.session, member.id, 5_000_000, actor="test", reason="setup")
        return member

    def application(self, amount: int = 100_000, partner: Any = None) -> Any:
        from lending.applications import apply_for_loan

        borrower = self.borrower(partner)
        return apply_for_loan(
            self.session, member_id=borrower.id, product_code=self.product().code,
            amount=amount, term=4, purpose="stock for the shop",
            idempotency_key=f"rw-app-{next(_ids)}")

    def active(self, amount: int = 100_000) -> Any:
        import ledger
        from ledger import MOBILE_MONEY_FLOAT, credit, debit, lender_wallet
        from lending import members
        from lending.applications import approve_loan
        from lending.disbursement import complete_disbursement, start_disbursement
        from lending.funding import fund_loan

        loan = self.application(amount)
        approve_loan(self.session, loan.id, actor="officer")
        lender = self.borrower()
        members.become_lender(self.session, lender.id)
        ledger.post(self.session, f"rw-deposit:{lender.id}", "deposit",
                    [debit(MOBILE_MONEY_FLOAT, amount), credit(lender_wallet(lender.id), amount)])
        fund_loan(self.session, loan_id=loan.id, lender_id=lender.id,
                  shares=amount // loan.product.share_unit, idempotency_key=f"rw-f{loan.id}")
        start_disbursement(self.session, loan.id, actor="payments")
        return complete_disbursement(self.session, loan.id, receipt=f"RWD{loan.id:07d}",
                                     occurred_at=T0)
