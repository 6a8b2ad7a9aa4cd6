"""What the simulated M-Pesa did (`sim_mpesa_transactions`), and the float it implies."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import runtime
from core.clock import Clock
from payments.models import SimMpesaTransaction
from payments.providers.base import calling_session

STK, B2C, C2B, REVERSAL, STATUS = "stk", "b2c", "c2b", "reversal", "status"
PROMPTED, COMPLETED, FAILED = "prompted", "completed", "failed"
QUEUE = "default"
BEHAVIOUR_KEY = "mkopo:sim:mpesa:behaviour:"
SHORTCODE_NAME = "600000 - Mkopo"

# Per outcome: (STK result code, description); B2C uses its own table below.
STK_RESULTS: dict[str, tuple[int, str]] = {
    "success": (0, "The service request is processed successfully."),
    "cancelled": (1032, "Request cancelled by user"),
    "wrong_pin": (2001, "The initiator information is invalid."),
    "insufficient_funds": (1, "The balance is insufficient for the transaction."),
    "unreachable": (1037, "DS timeout user cannot be reached"),
}
B2C_RESULTS: dict[str, tuple[int, str]] = {
    "success": (0, "The service request is processed successfully."),
    "insufficient_funds": (1, "The balance is insufficient for the transaction."),
    "wrong_pin": (2001, "The initiator information is invalid."),
    "unreachable": (2040, "Credit Party customer type (Unregistered or Registered Customer) "
                          "can't be supported by the service."),
    "cancelled": (2040, "Credit Party customer type (Unregistered or Registered Customer) "
                        "can't be supported by the service."),
}
NOT_FOUND = ("R000001", "The transaction could not be found.")


@contextmanager
def record_scope() -> Iterator[Session]:
    """A unit of work for the simulator's table.

    Normally its own transaction: what M-Pesa did does not roll back with Mkopo.
    SQLite has a single writer, and the caller (an outbox handler) holds the write
    lock while it calls the provider, so there the caller's session is used instead.
    """
    caller = calling_session.get()
    if caller is not None and caller.get_bind().dialect.name == "sqlite":
        with caller.begin_nested():
            yield caller
        return
    with runtime.current().db.transaction() as session:
        yield session


def random_token(length: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_receipt() -> str:
    """An M-Pesa-like receipt number: ten characters, letters and digits."""
    return "S" + random_token(9)


@dataclass(frozen=True)
class SimRecord:
    """A detached copy of one simulated transaction, safe to use outside its session."""

    id: int
    kind: str
    idempotency_key: str
    external_id: str
    conversation_id: str | None
    merchant_request_id: str | None
    phone: str
    amount: int
    account_reference: str | None
    outcome: str
    result_code: str | None
    receipt: str | None
    original_receipt: str | None
    status: str
    behaviour: dict[str, Any]
    created_at: Any
    completed_at: Any

    @classmethod
    def of(cls, row: SimMpesaTransaction) -> SimRecord:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def record_transaction(clock: Clock, **values: Any) -> tuple[SimRecord, bool]:
    """Insert a simulated transaction once per (kind, idempotency key); return it and is-new."""
    with record_scope() as session:
        existing = _find(session, values["kind"], values["idempotency_key"])
        if existing is not None:
            return SimRecord.of(existing), False
        row = SimMpesaTransaction(created_at=clock.now(), callbacks_sent=0, **values)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            again = _find(session, values["kind"], values["idempotency_key"])
            if again is None:
                raise
            return SimRecord.of(again), False
        return SimRecord.of(row), True


def _find(session: Session, kind: str, key: str) -> SimMpesaTransaction | None:
    return session.scalar(select(SimMpesaTransaction).where(
        SimMpesaTransaction.kind == kind, SimMpesaTransaction.idempotency_key == key))


def settle_values(kind: str, outcome: str, clock: Clock) -> dict[str, Any]:
    """The status, code and receipt a transaction gets once its outcome is known."""
    code, _ = (STK_RESULTS if kind == STK else B2C_RESULTS)[outcome]
    success = code == 0
    return {"outcome": outcome, "result_code": str(code),
            "status": COMPLETED if success else FAILED,
            "receipt": new_receipt() if success else None,
            "completed_at": clock.now()}


def net_float(session: Session) -> int:
    """Money in minus money out of our M-Pesa accounts, by the simulator's own record."""

    def total(*kinds: str) -> int:
        value = session.scalar(select(func.coalesce(func.sum(SimMpesaTransaction.amount), 0))
                               .where(SimMpesaTransaction.kind.in_(kinds),
                                      SimMpesaTransaction.status == COMPLETED))
        return int(value or 0)

    return total(STK, C2B) - total(B2C, REVERSAL)
