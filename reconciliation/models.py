"""Reconciliation's own tables: our side's items, the runs, and the pairs they made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigId, JSONDict, MinorUnits, Timestamp, intpk


class ReconItem(Base):
    """One money movement on our side, as reconciliation compares it (signed: in > 0)."""

    __tablename__ = "recon_items"
    __table_args__ = (
        UniqueConstraint("source", "source_id"),
    )

    id: Mapped[intpk]
    source: Mapped[str] = mapped_column(String(12))
    source_id: Mapped[int] = mapped_column(BigInteger)
    receipt: Mapped[str | None] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(40), default="")
    phone_key: Mapped[str | None] = mapped_column(String(8))
    amount: Mapped[MinorUnits]
    occurred_at: Mapped[Timestamp]
    occurred_epoch: Mapped[int] = mapped_column(BigInteger)
    intent_id: Mapped[int | None] = mapped_column(BigInteger)
    journal_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    loan_id: Mapped[int | None] = mapped_column(BigInteger)
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger)


class ReconRun(Base):
    """One run of the engine: when, by whom, with which settings, and what it found."""

    __tablename__ = "recon_runs"

    id: Mapped[intpk]
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[Timestamp]
    finished_at: Mapped[datetime | None]
    settings: Mapped[JSONDict] = mapped_column(default=dict)
    counts: Mapped[JSONDict] = mapped_column(default=dict)


class ReconMatch(Base):
    """A statement line paired with one of our items, by a named rule."""

    __tablename__ = "recon_matches"
    __table_args__ = (
        UniqueConstraint("statement_line_id", "item_id"),
    )

    id: Mapped[intpk]
    # Plain ids, no foreign keys: a run inserts a million pairs at once, and a
    # foreign-key check per row would double its time (docs/reconciliation.md).
    run_id: Mapped[int] = mapped_column(BigId)
    statement_line_id: Mapped[int] = mapped_column(BigId)
    item_id: Mapped[int] = mapped_column(BigId)
    rule: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    statement_amount: Mapped[MinorUnits]
    item_amount: Mapped[MinorUnits]
    created_at: Mapped[Timestamp]
