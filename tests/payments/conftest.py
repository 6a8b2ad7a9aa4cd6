"""Payments fixtures: the simulator wired to the app over HTTP, members, loans, helpers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.outbox import OutboxItem
from lending import members
from lending.applications import apply_for_loan, approve_loan
from lending.catalog import create_product
from lending.funding import fund_loan
from lending.models import FieldPartner, Loan, Member
from lending.protection import set_credit_limit
from payments import intents, ledger, simulator
from payments.factory import using_provider
from payments.ledger import MOBILE_MONEY_FLOAT
from payments.models import CallbackInbox, PaymentIntent, ReconciliationBreak
from payments.simulator import SimulatorProvider

_serial = itertools.count(1)

# KES 1,000 over 4 weeks at 52% flat, no fee: 4 x KES 260.
PRODUCT: dict[str, Any] = {
    "name": "Biashara weekly", "min_amount": 50_000, "max_amount": 20_000_000,
    "terms": [4, 8], "frequency": "weekly", "interest_method": "flat", "interest_rate": "52",
}


@pytest.fixture(autouse=True)
def cheap_pin_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its real cost is slow on purpose; these tests only need members."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(
        members, "PIN_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def sim(app: Any, runtime: Any, redis: Any) -> Iterator[SimulatorProvider]:
    """The simulator as this process's provider, posting callbacks into `app` in-process."""
    provider = SimulatorProvider(runtime.settings)
    with simulator.using_transport(httpx.WSGITransport(app=app)), using_provider(provider):
        yield provider
    simulator.clear_behaviours()


class Books:
    """Reads the payments tables and checks the ledger against the simulator's record."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def intent(self, intent_id: int) -> PaymentIntent:
        self.session.expire_all()
        found = self.session.get(PaymentIntent, intent_id)
        assert found is not None
        return found

    def breaks(self, type_: str | None = None) -> list[ReconciliationBreak]:
        self.session.expire_all()
        query = select(ReconciliationBreak).order_by(ReconciliationBreak.id)
        if type_ is not None:
            query = query.where(ReconciliationBreak.type == type_)
        return list(self.session.scalars(query))

    def inbox(self, external_id: str | None = None) -> list[CallbackInbox]:
        """Stored callbacks, oldest first (only those with `external_id` if given)."""
        self.session.expire_all()
        query = select(CallbackInbox).order_by(CallbackInbox.id)
        if external_id is not None:
            query = query.where(CallbackInbox.external_id == external_id)
        return list(self.session.scalars(query))

    def balance(self, spec: ledger.AccountSpec) -> int:
        return ledger.balance(self.session, spec)

    def entries(self) -> int:
        return int(self.session.scalar(select(func.count(ledger.JournalEntry.id))) or 0)

    def outbox_failed(self) -> list[OutboxItem]:
        return list(self.session.scalars(select(OutboxItem).where(OutboxItem.status == "failed")))

    def assert_sound(self, *, against_simulator: bool = True) -> None:
        """The ledger verifies, the trial balance is zero, the float matches M-Pesa's record."""
        self.session.expire_all()
        assert ledger.verify(self.session).ok
        assert ledger.trial_balance(self.session).balanced
        if against_simulator:
            assert self.balance(MOBILE_MONEY_FLOAT) == simulator.net_float(self.session)


@pytest.fixture
def books(session: Session) -> Books:
    return Books(session)


class Loans:
    """Builds members and loans through the real services, money moving through the simulator."""

    def __init__(self, session: Session, worker: Any) -> None:
        self.session, self.worker = session, worker

    def member(self, *, limit: int = 2_000_000) -> Member:
        n = next(_serial)
        member = members.register_member(
            self.session, phone=f"+25471{n:07d}", first_name=f"Amina{n}", national_id=f"ID{n}",
            pin="4821", language="en", consent=True)
        partner = FieldPartner(name=f"Partner {n}", region="Kisumu", risk_rating=2)
        self.session.add(partner)
        self.session.flush()
        members.verify_member(self.session, member.id, partner.id, "officer")
        set_credit_limit(self.session, member.id, limit, actor="test", reason="setup")
        return member

    def lender(self, wallet: int) -> Member:
        """A lender whose wallet was topped up by a real STK deposit."""
        member = self.member()
        members.become_lender(self.session, member.id)
        intents.request_deposit(self.session, member_id=member.id, phone=member.phone,
                                amount=wallet, idempotency_key=f"seed-deposit-{member.id}")
        self.session.commit()
        self.worker.run()
        return member

    def funded(self, amount: int = 100_000, *, commit: bool = True) -> Loan:
        """A fully funded loan; its "loan.disburse" outbox item is queued on commit."""
        product = create_product(self.session, {**PRODUCT, "code": f"P{next(_serial)}"})
        borrower = self.member(limit=max(amount, 2_000_000))
        loan = apply_for_loan(self.session, member_id=borrower.id, product_code=product.code,
                              amount=amount, term=4, purpose="stock for the kiosk",
                              idempotency_key=f"app-{next(_serial)}")
        approve_loan(self.session, loan.id, actor="officer")
        lender = self.lender(wallet=amount)
        fund_loan(self.session, loan_id=loan.id, lender_id=lender.id,
                  shares=amount // product.share_unit, idempotency_key=f"fund-{next(_serial)}")
        if commit:
            self.session.commit()
        return loan

    def active(self, amount: int = 100_000) -> Loan:
        """A loan paid out to its borrower through the simulator's B2C."""
        loan = self.funded(amount)
        self.worker.run()
        self.session.refresh(loan)
        assert loan.status == "active", loan.status
        return loan


@pytest.fixture
def loans(session: Session, worker: Any, sim: SimulatorProvider, clock: Any) -> Loans:
    return Loans(session, worker)
