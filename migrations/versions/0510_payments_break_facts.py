"""payments: one reconciliation break per money fact

A break's `dedupe_key` becomes the natural key of the money fact it is about,
whichever path found it: an orphan callback is `callback:inbox:<id>` (the
callback processor used `callback_without_intent:<kind>:<external id>`, a
reconciliation run `callback_without_intent:inbox:<id>`), an intent that never
settled is `unsettled:intent:<id>` (the sweeper's `stale_pending` and a run's
`intent_without_callback`). The unique constraint on `dedupe_key` stays and now
holds one break per fact. Breaks already opened twice for one fact are merged:
the one an operator decided (else the oldest) keeps the key and gains what the
others knew; the others are dismissed as merged, under a key of their own.

Revision ID: 0510_payments_break_facts
Revises: 0500_payments
Create Date: 2026-12-05
"""
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0510_payments_break_facts"
down_revision: str | Sequence[str] | None = "0500_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FACTS = {
    # break type: (the fact's key prefix, the column naming its subject)
    "callback_without_intent": ("callback:inbox:", "inbox_id"),
    "intent_without_callback": ("unsettled:intent:", "intent_id"),
    "stale_pending": ("unsettled:intent:", "intent_id"),
}
FILLABLE = ("amount", "receipt", "phone", "intent_id", "inbox_id", "loan_id", "journal_entry_id")

breaks = sa.table(
    "reconciliation_breaks", sa.column("id", sa.BigInteger()), sa.column("type", sa.String()),
    sa.column("status", sa.String()), sa.column("dedupe_key", sa.String()),
    sa.column("resolved_at", sa.DateTime(timezone=True)), sa.column("resolved_by", sa.String()),
    sa.column("resolution", sa.Text()), *(sa.column(name) for name in FILLABLE),
)


def upgrade() -> None:
    connection = op.get_bind()
    groups: dict[str, list[Any]] = {}
    for type_, (prefix, subject) in FACTS.items():
        rows = connection.execute(
            sa.select(breaks).where(breaks.c.type == type_, breaks.c[subject].is_not(None))
        ).all()
        for row in rows:
            groups.setdefault(f"{prefix}{row._mapping[subject]}", []).append(row)
    for key, rows in groups.items():
        _merge(connection, key, sorted(rows, key=lambda row: row.id))


def _merge(connection: sa.Connection, key: str, rows: list[Any]) -> None:
    decided = [row for row in rows if row.status != "open"]
    keeper = (decided or rows)[0]
    found: dict[str, Any] = {}
    for row in rows:
        if row.id == keeper.id:
            continue
        for name in FILLABLE:
            if getattr(keeper, name) is None and getattr(row, name) is not None:
                found.setdefault(name, getattr(row, name))
        merged: dict[str, Any] = {"dedupe_key": f"{key}#merged:{row.id}"[:200]}
        if row.status == "open":
            merged.update(status="dismissed", resolved_at=_now(),
                          resolved_by="migration 0510",
                          resolution=f"merged into break {keeper.id}: one break per money fact")
        connection.execute(sa.update(breaks).where(breaks.c.id == row.id).values(**merged))
    connection.execute(sa.update(breaks).where(breaks.c.id == keeper.id)
                       .values(dedupe_key=key[:200], **found))


def _now() -> datetime:
    now = datetime.now(UTC)
    # SQLite stores naive UTC (core.db.UTCDateTime); PostgreSQL takes the aware value.
    return now.replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else now


def downgrade() -> None:
    """Nothing to undo: the old code reads any unique key, and merged breaks stay merged."""
