"""Reconciliation breaks: what does not match, recorded once for an operator to resolve."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.clock import utcnow
from payments.models import DISMISSED, OPEN, RESOLVED, ReconciliationBreak

logger = logging.getLogger(__name__)


def record_break(
    session: Session,
    type_: str,
    dedupe_key: str,
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
    """Open a break unless one with `dedupe_key` exists; either way return it."""
    key = f"{type_}:{dedupe_key}"[:200]
    values = dict(
        type=type_, status=OPEN, dedupe_key=key, amount=amount, currency=currency,
        # Provider data is untrusted: a long value must not make the break unrecordable.
        receipt=receipt[:40] if receipt else None, phone=phone[:16] if phone else None,
        intent_id=intent_id, inbox_id=inbox_id, loan_id=loan_id,
        journal_entry_id=journal_entry_id, details=details or {}, created_at=utcnow(),
    )
    # One statement whether or not the problem was recorded before (by us or concurrently).
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    created = session.scalars(
        insert(ReconciliationBreak).values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(ReconciliationBreak)
    ).first()
    if created is not None:
        logger.warning("reconciliation break %s opened (%s)", type_, key)
        return created
    existing = session.scalar(select(ReconciliationBreak).where(
        ReconciliationBreak.dedupe_key == key))
    assert existing is not None, "the conflicting break must be visible after ON CONFLICT"
    return existing


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
