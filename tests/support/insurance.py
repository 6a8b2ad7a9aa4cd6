"""Insurance fixtures: covered loans and hospital cash through the real services and M-Pesa."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from insurance import capital, policies
from insurance.accounts import INSURANCE_POOL
from insurance.models import Claim, Policy
from lending import members
from lending.applications import apply_for_loan, approve_loan
from lending.catalog import create_product
from lending.funding import fund_loan
from lending.models import FieldPartner, Loan, Member
from lending.protection import set_credit_limit
from payments import intents
from payments.models import PaymentIntent
from payments.providers.simulator import SimulatorProvider

from support.simulated_mpesa import assert_books_sound, simulating

_serial = itertools.count(1)

# KES 1,000 over 4 weeks at 52% flat: 4 x KES 260; a 2% fee and 1.5% credit-life cover.
COVERED_PRODUCT: dict[str, Any] = {
    "name": "Biashara salama", "min_amount": 50_000, "max_amount": 20_000_000,
    "terms": [4, 8], "frequency": "weekly", "interest_method": "flat", "interest_rate": "52",
    "upfront_fee_percent": "2", "credit_life_premium_percent": "1.5",
}


def unique_phone() -> str:
    return f"+2547{uuid.uuid4().int % 10**8:08d}"


class Insured:
    """Members, covered loans, policies and claims, money moving through simulated M-Pesa."""

    def __init__(self, session: Session, worker: Any) -> None:
        self.session, self.worker = session, worker

    def settle(self) -> None:
        """Commit, let the worker run every queued job, and read fresh rows."""
        self.session.commit()
        self.worker.run()
        self.session.expire_all()

    def partner(self) -> FieldPartner:
        partner = FieldPartner(name=f"Partner {next(_serial)}", region="Kisumu", risk_rating=2)
        self.session.add(partner)
        self.session.flush()
        return partner

    def member(self, *, limit: int = 2_000_000, partner: FieldPartner | None = None) -> Member:
        n = next(_serial)
        member = members.register_member(
            self.session, phone=unique_phone(), first_name=f"Zawadi{n}",
            national_id=f"B{uuid.uuid4().hex[:12]}", pin="4821", language="en", consent=True)
        members.verify_member(self.session, member.id, (partner or self.partner()).id,
                              "officer")
        set_credit_limit(self.session, member.id, limit, actor="test", reason="setup")
        return member

    def lender(self, wallet: int) -> Member:
        member = self.member()
        members.become_lender(self.session, member.id)
        intents.request_deposit(self.session, member_id=member.id, phone=member.phone,
                                amount=wallet, idempotency_key=f"seed-deposit-{member.id}")
        self.settle()
        return member

    def product(self, **overrides: Any) -> Any:
        """A loan product with credit-life cover (COVERED_PRODUCT unless overridden)."""
        return create_product(self.session, {**COVERED_PRODUCT, "code": f"C{next(_serial)}",
                                             **overrides})

    def covered_loan(self, amount: int = 100_000, *, lenders: int = 2, term: int = 4,
                     borrower: Member | None = None, **product: Any) -> Loan:
        """A loan with credit-life cover, funded by `lenders` and paid out by B2C."""
        made = self.product(**product)
        borrower = borrower or self.member(limit=max(amount, 2_000_000))
        loan = apply_for_loan(self.session, member_id=borrower.id, product_code=made.code,
                              amount=amount, term=term, purpose="stock for the kiosk",
                              idempotency_key=f"app-{next(_serial)}")
        approve_loan(self.session, loan.id, actor="officer")
        shares = amount // made.share_unit
        for n in range(lenders):
            count = shares // lenders + (1 if n < shares % lenders else 0)
            lender = self.lender(wallet=count * made.share_unit)
            fund_loan(self.session, loan_id=loan.id, lender_id=lender.id, shares=count,
                      idempotency_key=f"fund-{next(_serial)}")
        self.settle()
        self.settle()  # the payout's own outbox item, then its B2C result
        loan = self.session.get(Loan, loan.id)
        assert loan is not None and loan.status == "active", loan and loan.status
        return loan

    def policy_of(self, loan: Loan) -> Policy:
        policy = self.session.scalar(select(Policy).where(Policy.loan_id == loan.id))
        assert policy is not None
        return policy

    def hospital_cash(self, member: Member | None = None) -> Policy:
        """A member who bought hospital cash and paid its premium by STK push."""
        member = member or self.member()
        policy = policies.buy_hospital_cash(self.session, member_id=member.id,
                                            idempotency_key=f"buy-{uuid.uuid4().hex}")
        self.settle()
        policy = self.session.get(Policy, policy.id)
        assert policy is not None
        return policy

    def capital(self, amount: int) -> None:
        capital.commit_capital(self.session, amount=amount, actor="underwriter",
                               key=uuid.uuid4().hex)

    def claim(self, claim_id: int) -> Claim:
        # populate_existing, not expire_all: an outbox item still to be enqueued on commit
        # must not be expired under the after-commit hook
        self.session.flush()
        found = self.session.get(Claim, claim_id, populate_existing=True)
        assert found is not None
        return found

    def intent(self, intent_id: int) -> PaymentIntent:
        self.session.flush()
        found = self.session.get(PaymentIntent, intent_id, populate_existing=True)
        assert found is not None
        return found

    def pool(self) -> int:
        return ledger.balance(self.session, INSURANCE_POOL)

    def assert_sound(self) -> None:
        assert_books_sound(self.session)


@pytest.fixture
def insured(session: Session, worker: Any, sim: SimulatorProvider, clock: Any) -> Insured:
    return Insured(session, worker)


@pytest.fixture
def committed_insured(committed_db: Any, committed_app: Any, worker: Any, runtime: Any,
                      redis: Any, clock: Any) -> Iterator[Insured]:
    """`Insured` committing for real (races), the simulator posting into the app in-process."""
    with committed_db.session() as session, simulating(committed_app, runtime.settings):
        yield Insured(session, worker)
