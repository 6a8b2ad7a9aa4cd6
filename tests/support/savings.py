"""Savings fixtures: savers and chamas built through the real services, M-Pesa simulated."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from lending import members
from lending.models import FieldPartner, Member
from lending.protection import set_credit_limit
from payments.models import PaymentIntent
from payments.providers.simulator import SimulatorProvider
from savings import accounts, transfers
from savings.models import SavingsAccount

from support.simulated_mpesa import assert_books_sound, simulating

_serial = itertools.count(1)


def unique_phone() -> str:
    return f"+2547{uuid.uuid4().int % 10**8:08d}"


class Savers:
    """Members, accounts and money through the real services and the simulated M-Pesa."""

    def __init__(self, session: Session, worker: Any) -> None:
        self.session, self.worker = session, worker

    def member(self, *, limit: int = 200_000, language: str = "en",
               first_name: str | None = None, partner: FieldPartner | None = None) -> Member:
        n = next(_serial)
        member = members.register_member(
            self.session, phone=unique_phone(), first_name=first_name or f"Neema{n}",
            national_id=f"S{uuid.uuid4().hex[:12]}", pin="4821", language=language,
            consent=True)
        if partner is None:
            partner = FieldPartner(name=f"Partner {n}", region="Kisumu", risk_rating=2)
            self.session.add(partner)
            self.session.flush()
        members.verify_member(self.session, member.id, partner.id, "officer")
        set_credit_limit(self.session, member.id, limit, actor="test", reason="setup")
        self.session.flush()
        return member

    def akiba(self, member: Member) -> SavingsAccount:
        return accounts.personal_account(self.session, member.id)

    def deposit(self, member: Member, amount: int, account: SavingsAccount | None = None,
                key: str | None = None) -> PaymentIntent:
        """Deposit through an STK push the simulated M-Pesa answers; commits and settles."""
        target = account or self.akiba(member)
        intent = transfers.request_deposit(self.session, member_id=member.id,
                                           account_id=target.id, amount=amount,
                                           idempotency_key=key or uuid.uuid4().hex)
        self.session.commit()
        self.worker.run()
        self.session.expire_all()
        return intent

    def balance(self, account: SavingsAccount) -> int:
        self.session.expire_all()
        return accounts.balance(self.session, account)

    def intent(self, intent_id: int) -> PaymentIntent:
        self.session.expire_all()
        found = self.session.get(PaymentIntent, intent_id)
        assert found is not None
        return found

    def assert_sound(self) -> None:
        assert_books_sound(self.session)


@pytest.fixture
def savers(session: Session, worker: Any, sim: SimulatorProvider, clock: Any) -> Savers:
    return Savers(session, worker)


@pytest.fixture
def committed_savers(committed_db: Any, committed_app: Any, worker: Any, runtime: Any,
                     redis: Any) -> Iterator[Savers]:
    """`Savers` committing for real (races), the simulator posting into the app in-process."""
    with committed_db.session() as session, simulating(committed_app, runtime.settings):
        yield Savers(session, worker)
