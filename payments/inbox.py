"""The callback inbox: store first, acknowledge, then process in a job.

`store_callback` is what the callback endpoint calls. It looks at the body only
as far as the idempotency key (CONTRACT: CheckoutRequestID, TransID,
OriginatorConversationID), inserts the raw text in one statement that cannot
fail on a duplicate, and leaves everything else to `payments.processing`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import skipping_duplicates
from payments.breaks import open_unprocessable_break, record_break
from payments.models import AMOUNT_MISMATCH, DUPLICATE, INBOX_FAILED, RECEIVED, CallbackInbox
from payments.providers.base import EventKind, MalformedCallback
from payments.providers.parsing import parse_callback

logger = logging.getLogger(__name__)

PROVIDER = "mpesa"


def _stk_id(body: Any) -> Any:
    return body["Body"]["stkCallback"]["CheckoutRequestID"]


def _c2b_id(body: Any) -> Any:
    return body["TransID"]


def _result_id(body: Any) -> Any:
    result = body["Result"]
    return result.get("OriginatorConversationID") or result["ConversationID"]


EXTERNAL_ID: dict[EventKind, Callable[[Any], Any]] = {
    "stk": _stk_id,
    "c2b_validation": _c2b_id,
    "c2b_confirmation": _c2b_id,
    "b2c_result": _result_id,
    "b2c_timeout": _result_id,
    "status_result": _result_id,
    "status_timeout": _result_id,
    "reversal_result": _result_id,
    "reversal_timeout": _result_id,
}
"""Where each callback kind carries its idempotency key (the only thing read before storing)."""


class Unreadable(ValueError):
    """The body is not JSON, or carries no idempotency key; it was stored as `failed`."""

    def __init__(self, message: str, inbox_id: int) -> None:
        super().__init__(message)
        self.inbox_id = inbox_id


@dataclass(frozen=True, slots=True)
class Stored:
    """The inbox row for a callback, and whether this request created it."""

    inbox_id: int
    created: bool


def extract_external_id(kind: EventKind, raw: str) -> tuple[Any, str | None]:
    """Return (parsed body, external id); the id is None when the body carries none."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise MalformedCallback("not JSON") from exc
    except RecursionError:  # nested deeper than any provider's payload: hostile or broken
        raise MalformedCallback("JSON nested too deeply") from None
    try:
        value = EXTERNAL_ID[kind](body)
    except (KeyError, TypeError, AttributeError):
        return body, None
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        return body, None
    return body, str(value).strip()[:120]


def store_callback(session: Session, kind: EventKind, raw: str, remote_addr: str | None) -> Stored:
    """Insert the raw callback once per (provider, kind, external id) and commit it.

    Raises Unreadable (after storing the body as `failed`, for an operator to read)
    when there is no idempotency key to store it under.
    """
    try:
        body, external_id = extract_external_id(kind, raw)
    except MalformedCallback as exc:
        inbox_id = _store_unreadable(session, kind, raw, remote_addr, f"malformed JSON: {exc}")
        raise Unreadable("malformed JSON", inbox_id) from None
    if external_id is None:
        inbox_id = _store_unreadable(session, kind, raw, remote_addr, "no idempotency key")
        raise Unreadable("no idempotency key", inbox_id)
    stored = _insert(session, kind, external_id, raw, remote_addr, RECEIVED)
    if not stored.created:
        _check_duplicate(session, stored.inbox_id, kind, body, raw)
    session.commit()
    return stored


def _store_unreadable(
    session: Session, kind: str, raw: str, remote_addr: str | None, error: str
) -> int:
    # Keyed by content: the same garbage twice is one row, different garbage is kept apart.
    digest = hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()[:40]
    stored = _insert(session, kind, f"unreadable:{digest}", raw, remote_addr, INBOX_FAILED,
                     error=error)
    if stored.created:
        inbox = session.get(CallbackInbox, stored.inbox_id)
        assert inbox is not None
        open_unprocessable_break(session, inbox, error)
    session.commit()
    logger.warning("mpesa %s callback stored as failed: %s (inbox %s)", kind, error,
                   stored.inbox_id)
    return stored.inbox_id


_TABLE = cast(Table, CallbackInbox.__table__)
_KEY = ("provider", "kind", "external_id")
_COLUMNS = ("provider", "kind", "external_id", "raw", "remote_addr", "received_at", "status",
            "attempts", "error")
# The callback hot path. On PostgreSQL the INSERT goes to the driver as written: building and
# compiling a statement per request costs more CPU than PostgreSQL spends on it. psycopg
# takes the aware `received_at` as timestamptz, as the UTCDateTime column would.
_PG_INSERT = (
    f"INSERT INTO callback_inbox ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'%({c})s' for c in _COLUMNS)}) "
    "ON CONFLICT (provider, kind, external_id) DO NOTHING RETURNING id"
)
_INSERT = skipping_duplicates(_TABLE, _KEY, "sqlite").returning(_TABLE.c.id)


def _insert(
    session: Session, kind: str, external_id: str, raw: str, remote_addr: str | None,
    status: str, error: str | None = None,
) -> Stored:
    """One INSERT … ON CONFLICT DO NOTHING: a duplicate costs no exception and no savepoint."""
    values = dict(
        provider=PROVIDER, kind=kind, external_id=external_id, raw=raw,
        remote_addr=(remote_addr or "")[:45] or None, received_at=utcnow(), status=status,
        attempts=0, error=error,
    )
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        new_id = connection.exec_driver_sql(_PG_INSERT, values).scalar()
    else:
        new_id = connection.execute(_INSERT, values).scalar()
    if new_id is not None:
        return Stored(int(new_id), True)
    existing = session.scalar(select(CallbackInbox.id).where(
        CallbackInbox.provider == PROVIDER, CallbackInbox.kind == kind,
        CallbackInbox.external_id == external_id))
    assert existing is not None, "the conflicting row must be visible after ON CONFLICT"
    return Stored(int(existing), False)


def _check_duplicate(session: Session, inbox_id: int, kind: EventKind, body: Any,
                     raw: str) -> None:
    """A repeat of a stored callback is harmless unless its content differs: then it is a break."""
    first = session.get(CallbackInbox, inbox_id)
    assert first is not None
    if first.raw == raw:
        return
    try:
        first_amount = parse_callback(kind, json.loads(first.raw)).amount
        this_amount = parse_callback(kind, body).amount
    except (MalformedCallback, ValueError):
        first_amount = this_amount = None
    mismatch = first_amount != this_amount
    digest = hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    record_break(
        session, AMOUNT_MISMATCH if mismatch else DUPLICATE,
        f"{kind}:{first.external_id}:{digest}", amount=this_amount, inbox_id=inbox_id,
        details={"kind": kind, "external_id": first.external_id, "first_amount": first_amount,
                 "this_amount": this_amount, "raw": raw[:4000],
                 "note": "same idempotency key, different content; not applied"},
    )
