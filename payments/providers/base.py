"""What `payments/` asks of a mobile-money provider, and what a provider answers.

`MobileMoneyProvider` is the interface Daraja (`daraja.py`) and the simulator
(`simulator/`) implement; the dataclasses are their answers and the callbacks they
cause, normalised (`parsing.py` turns Daraja's JSON into them). Amounts are integer
minor units, phones E.164, times aware.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from core.outbox import PermanentError

NAIROBI = ZoneInfo("Africa/Nairobi")
CENTS_PER_SHILLING = 100

EventKind = Literal[
    "stk",
    "c2b_confirmation",
    "c2b_validation",
    "b2c_result",
    "b2c_timeout",
    "status_result",
    "status_timeout",
    "reversal_result",
    "reversal_timeout",
]
Outcome = Literal["success", "failed", "cancelled", "pending", "unknown"]
ResultCode = int | str
Json = dict[str, Any]


class MalformedCallback(ValueError):
    """A provider payload lacks a field we need or carries one of the wrong type."""


class InvalidRequest(PermanentError, ValueError):
    """We refuse to send this request: retrying it can never succeed."""


# --- results of outbound calls -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentRequested:
    """Daraja accepted an STK push; the outcome arrives at /stk or by STK query."""

    checkout_request_id: str
    merchant_request_id: str
    customer_message: str
    raw: Json = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class DisbursementRequested:
    """Daraja queued a B2C payment; the outcome arrives at /b2c/result or /b2c/timeout."""

    originator_conversation_id: str
    conversation_id: str
    description: str
    raw: Json = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ReversalRequested:
    """Daraja queued a reversal; the outcome arrives at /reversal/result or /reversal/timeout."""

    originator_conversation_id: str
    conversation_id: str
    description: str
    raw: Json = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class StatusAnswer:
    """What a status query said now: settled (STK query) or `pending` with the answer to follow."""

    subject_id: str
    outcome: Outcome
    result_code: ResultCode | None
    description: str
    reason: str
    conversation_id: str | None = None
    originator_conversation_id: str | None = None
    raw: Json = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class C2BRegistered:
    """Daraja accepted our C2B validation and confirmation URLs."""

    description: str
    raw: Json = field(default_factory=dict, repr=False, compare=False)


# --- inbound callbacks -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """One provider callback, normalised; `external_id` is the CONTRACT's idempotency key."""

    kind: EventKind
    external_id: str
    outcome: Outcome
    result_code: ResultCode | None
    description: str
    reason: str
    amount: int | None = None
    receipt: str | None = None
    # repr=False: events end up in log lines, and phone numbers must not.
    phone: str | None = field(default=None, repr=False)
    account_reference: str | None = None
    occurred_at: datetime | None = None
    conversation_id: str | None = None
    merchant_request_id: str | None = None
    original_receipt: str | None = None
    queried_id: str | None = None
    raw: Json = field(default_factory=dict, repr=False, compare=False)


@runtime_checkable
class MobileMoneyProvider(Protocol):
    """What `payments/` asks of a mobile-money provider (Daraja, the simulator)."""

    def request_payment(
        self, *, phone: str, amount: int, reference: str, description: str, idempotency_key: str
    ) -> PaymentRequested:
        """Ask the customer to pay `amount` minor units (an STK push to `phone`, E.164)."""
        ...

    def disburse(
        self, *, phone: str, amount: int, reference: str, idempotency_key: str
    ) -> DisbursementRequested:
        """Send `amount` minor units to `phone`; `idempotency_key` travels as our request id."""
        ...

    def query_status(
        self,
        *,
        checkout_request_id: str | None = None,
        receipt: str | None = None,
        originator_conversation_id: str | None = None,
        shortcode: str | None = None,
    ) -> StatusAnswer:
        """Ask where a payment stands: by checkout id, or by receipt / originator id."""
        ...

    def reverse(
        self, *, receipt: str, amount: int, reason: str, idempotency_key: str
    ) -> ReversalRequested:
        """Reverse a completed transaction of `amount` minor units."""
        ...

    def register_c2b_urls(self) -> C2BRegistered:
        """Tell the provider where to send C2B validation and confirmation callbacks."""
        ...


calling_session: ContextVar[Session | None] = ContextVar("calling_session", default=None)
"""The session of the handler calling the provider; only the simulator on SQLite uses it."""


@contextmanager
def provider_call(session: Session) -> Iterator[None]:
    """Mark `session` as the one whose transaction is open around a provider call."""
    token = calling_session.set(session)
    try:
        yield
    finally:
        calling_session.reset(token)
