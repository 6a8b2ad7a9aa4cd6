"""Fakes of our own boundaries for the SMS tests: the lending port and the SMS sender."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core.outbox import TransientError
from messaging import outbound  # noqa: F401 - registers the outbox handlers
from messaging.ports import (
    DueInstallment,
    MemberInfo,
    RepaymentRefused,
    set_member_lookup,
)
from messaging.senders import SendResult, use_sender


@dataclass
class FakeLending:
    """The lending domain as messaging sees it, held in dicts."""

    members: dict[str, MemberInfo] = field(default_factory=dict)
    balances: dict[int, dict[str, Any]] = field(default_factory=dict)
    installments: list[DueInstallment] = field(default_factory=list)
    refuse_with: str | None = None
    repayments: list[tuple[int, int, str]] = field(default_factory=list)
    asked_dates: list[list[date]] = field(default_factory=list)

    def add_member(self, phone: str, first_name: str, language: str = "en") -> MemberInfo:
        member = MemberInfo(len(self.members) + 1, first_name, language)
        self.members[phone] = member
        return member

    def find_member(self, session: Session, phone: str) -> MemberInfo | None:
        return self.members.get(phone)

    def balance_text_params(self, session: Session, member_id: int) -> dict[str, Any]:
        return dict(self.balances[member_id])

    def request_repayment(
        self, session: Session, member_id: int, amount_minor: int, idempotency_key: str
    ) -> None:
        if self.refuse_with:
            raise RepaymentRefused(self.refuse_with)
        self.repayments.append((member_id, amount_minor, idempotency_key))

    def due_installments(self, session: Session, on_dates: list[date]) -> Iterable[DueInstallment]:
        self.asked_dates.append(list(on_dates))
        return [i for i in self.installments if i.due_date in on_dates]


@pytest.fixture
def lending() -> Iterator[FakeLending]:
    fake = FakeLending()
    previous = set_member_lookup(fake)
    yield fake
    set_member_lookup(previous)


class FakeSender:
    """Records what would have gone to phones; answers from a script, then 'sent'."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.script: list[SendResult | Exception] = []

    def send(self, to: str, body: str) -> SendResult:
        outcome = self.script.pop(0) if self.script else None
        if isinstance(outcome, Exception):
            raise outcome
        self.sent.append((to, body))
        return outcome or SendResult("sent", f"ATXid_{len(self.sent):04d}", "KES 0.8000")

    def fail_next(self, reason: str = "africastalking: GatewayError") -> None:
        self.script.append(TransientError(reason))


@pytest.fixture
def sender() -> Iterator[FakeSender]:
    fake = FakeSender()
    previous = use_sender(fake)
    yield fake
    use_sender(previous)
