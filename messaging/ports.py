"""What messaging needs from the lending domain, as a port the lending package implements.

Messaging must not import `lending/`; `gateway.wiring.wire()` installs lending's
adapter with `set_member_lookup` once per process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from sqlalchemy.orm import Session

from core.money import Money


@dataclass(frozen=True)
class MemberInfo:
    """Who a phone number belongs to, as far as a reply needs to know."""

    id: int
    first_name: str
    language: str


@dataclass(frozen=True)
class DueInstallment:
    """An unpaid installment a reminder may be sent for; only ever the borrower's own."""

    installment_id: int
    member_id: int
    phone: str
    language: str
    amount_due: Money
    due_date: date
    loan_reference: str
    reminder_offsets: tuple[int, ...] = (-3, 0, 1, 7)


class RepaymentRefused(Exception):
    """The lending domain will not start this repayment; `reason` is a short code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


NO_ACTIVE_LOAN = "no_active_loan"
"""The `RepaymentRefused` reason that gets its own reply; any other gets a generic one."""


class MemberLookup(Protocol):
    """The lending domain, seen from messaging. Every method runs in the caller's session."""

    def find_member(self, session: Session, phone: str) -> MemberInfo | None:
        """The member registered with this E.164 phone number, or None."""
        ...

    def balance_text_params(self, session: Session, member_id: int) -> dict[str, Any]:
        """Params for the BAL reply.

        With an active loan: `loan_reference` (str), `balance`, `next_amount` (Money),
        `next_date` (date). Without one: `credit_limit` (Money) only.
        """
        ...

    def request_repayment(
        self, session: Session, member_id: int, amount_minor: int, idempotency_key: str
    ) -> None:
        """Start a repayment (an STK push through the outbox); raise RepaymentRefused."""
        ...

    def due_installments(
        self, session: Session, on_dates: list[date]
    ) -> Iterable[DueInstallment]:
        """Unpaid installments falling due on any of `on_dates` (local calendar dates)."""
        ...


class PortNotConfigured(RuntimeError):
    """No lending adapter has registered itself yet."""


_member_lookup: MemberLookup | None = None


def set_member_lookup(impl: MemberLookup | None) -> MemberLookup | None:
    """Install the lending adapter for this process; returns the previous one."""
    global _member_lookup
    previous, _member_lookup = _member_lookup, impl
    return previous


def member_lookup() -> MemberLookup:
    """The installed lending adapter; raises PortNotConfigured when there is none."""
    if _member_lookup is None:
        raise PortNotConfigured("no MemberLookup installed; call set_member_lookup()")
    return _member_lookup
