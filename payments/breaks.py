"""Reconciliation breaks: what does not match, recorded once per money fact for an operator.

A break's `dedupe_key` is the natural key of the money fact it is about, not of
the path that found it: the callback processor, the sweeper and `flask reconcile`
can each notice that callback 17 names no intent, and the operator must see one
break, opened by whichever path got there first. Most facts are a type and a
subject (`payout_failed:intent:9`); some facts can be found under more than one
type and share a namespace instead (`FACT_OF`). The key is unique in the table;
every path opens breaks with INSERT … ON CONFLICT (dedupe_key) DO NOTHING, here
(`record_break` for one, `open_breaks_from` for a set), so concurrent finders
of one fact make one row and neither fails.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from sqlalchemy import Select, Table, exists, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import insert_once, skipping_duplicates
from payments.models import (
    CALLBACK_WITHOUT_INTENT,
    DISMISSED,
    INTENT_WITHOUT_CALLBACK,
    OPEN,
    RESOLVED,
    STALE_PENDING,
    UNPROCESSABLE_CALLBACK,
    CallbackInbox,
    ReconciliationBreak,
)

logger = logging.getLogger(__name__)

KEY_LENGTH = 200

CALLBACK_FACT, UNSETTLED_FACT = "callback", "unsettled"
FACT_OF: dict[str, str] = {
    # "This stored callback cannot be applied": an orphan found by processing or by a
    # reconciliation run, or a poison callback found by processing, is one break.
    CALLBACK_WITHOUT_INTENT: CALLBACK_FACT,
    UNPROCESSABLE_CALLBACK: CALLBACK_FACT,
    # "This intent never settled": the sweeper's last status query gave up, or a
    # reconciliation run saw no callback (or no settlement after one).
    INTENT_WITHOUT_CALLBACK: UNSETTLED_FACT,
    STALE_PENDING: UNSETTLED_FACT,
}
"""Break types that name the same money fact; other types are their own namespace."""


def fact_key(type_: str, subject: str) -> str:
    """The natural key of the fact a break of `type_` about `subject` records."""
    return f"{FACT_OF.get(type_, type_)}:{subject}"[:KEY_LENGTH]


def callback_subject(inbox_id: int) -> str:
    """How every path names a stored callback in a break's key."""
    return f"inbox:{inbox_id}"


def intent_subject(intent_id: int) -> str:
    """How every path names a payment intent in a break's key."""
    return f"intent:{intent_id}"


_FILLABLE = ("amount", "receipt", "phone", "intent_id", "inbox_id", "loan_id",
             "journal_entry_id")


def record_break(
    session: Session,
    type_: str,
    subject: str,
    *,
    amount: int | None = None,
    currency: str = "KES",
    receipt: str | None = None,
    phone: str | None = None,
    intent_id: int | None = None,
    inbox_id: int | None = None,
    loan_id: int | None = None,
    journal_entry_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> ReconciliationBreak:
    """Open a break for the fact (`type_`, `subject`) unless one exists; either way return it.

    A later finder of a fact already open adds what the first did not know (the
    suspense entry it parked the money in, a receipt), and changes nothing else.
    """
    key = fact_key(type_, subject)
    values = dict(
        type=type_, status=OPEN, dedupe_key=key, amount=amount, currency=currency,
        # Provider data is untrusted: a long value must not make the break unrecordable.
        receipt=receipt[:40] if receipt else None, phone=phone[:16] if phone else None,
        intent_id=intent_id, inbox_id=inbox_id, loan_id=loan_id,
        journal_entry_id=journal_entry_id, details=details or {}, created_at=utcnow(),
    )
    created = insert_once(session, ReconciliationBreak, values, "dedupe_key")
    if created is not None:
        logger.warning("reconciliation break %s opened (%s)", type_, key)
        return created
    existing = session.scalar(select(ReconciliationBreak).where(
        ReconciliationBreak.dedupe_key == key).execution_options(populate_existing=True))
    assert existing is not None, "the conflicting break must be visible after ON CONFLICT"
    if existing.status == OPEN:
        _fill_in(existing, values)
    return existing


def _fill_in(existing: ReconciliationBreak, values: dict[str, Any]) -> None:
    for name in _FILLABLE:
        if getattr(existing, name) is None and values[name] is not None:
            setattr(existing, name, values[name])
    missing = {k: v for k, v in values["details"].items() if k not in existing.details}
    if missing:
        existing.details = {**existing.details, **missing}


def open_unprocessable_break(session: Session, inbox: CallbackInbox, reason: str) -> None:
    """The `unprocessable_callback` break for a stored callback (once per callback)."""
    if inbox.kind == "c2b_validation":
        return  # answered when it came; no money moves until a confirmation
    record_break(
        session, UNPROCESSABLE_CALLBACK, callback_subject(inbox.id), inbox_id=inbox.id,
        details={"kind": inbox.kind, "reason": f"cannot be applied: {reason}"[:500],
                 "callback": inbox.external_id[:120],
                 "note": "acknowledged to M-Pesa; the raw body is kept in the inbox; "
                         "nothing was posted"},
    )


BREAK_COLUMNS = ("type", "status", "dedupe_key", "amount", "currency", "receipt", "phone",
                 "intent_id", "inbox_id", "loan_id", "journal_entry_id", "details", "created_at")


def open_breaks_from(session: Session, rows: Select[Any]) -> int:
    """INSERT … SELECT the breaks `rows` yields (columns as BREAK_COLUMNS, keys from
    `fact_key`), skipping facts already recorded; returns how many were opened.

    The NOT EXISTS spares PostgreSQL the conflicting tuples; ON CONFLICT covers the
    fact another path records between that check and the insert.
    """
    table = cast(Table, ReconciliationBreak.__table__)
    chosen = rows.subquery("chosen")
    new = select(*chosen.c).where(~exists().where(table.c.dedupe_key == chosen.c.dedupe_key))
    statement = skipping_duplicates(table, "dedupe_key", session.get_bind().dialect.name
                                    ).from_select(BREAK_COLUMNS, new)
    session.flush()
    result = session.connection().execute(statement.execution_options(preserve_rowcount=True))
    return max(result.rowcount, 0)


def resolve_break(
    session: Session, break_id: int, *, actor: str, resolution: str, dismiss: bool = False
) -> ReconciliationBreak:
    """Close a break with the operator's note; a closed break stays closed."""
    item = session.get(ReconciliationBreak, break_id, with_for_update=True)
    if item is None:
        raise LookupError(f"no reconciliation break {break_id}")
    if item.status == OPEN:
        item.status = DISMISSED if dismiss else RESOLVED
        item.resolved_at, item.resolved_by, item.resolution = utcnow(), actor, resolution
    return item


def open_breaks(session: Session, type_: str | None = None) -> list[ReconciliationBreak]:
    """Open breaks, oldest first (optionally of one type)."""
    query = select(ReconciliationBreak).where(ReconciliationBreak.status == OPEN)
    if type_ is not None:
        query = query.where(ReconciliationBreak.type == type_)
    return list(session.scalars(query.order_by(ReconciliationBreak.id)))
