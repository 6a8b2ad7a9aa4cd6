"""The ledger's tables: accounts, journal entries and their postings."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.db import Base, BigId, JSONDict, MinorUnits, Timestamp, intpk
from ledger.chart import KINDS


class Account(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (CheckConstraint(f"kind IN {KINDS!r}", name="kind"),)

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    currency: Mapped[str] = mapped_column(String(3))
    name: Mapped[str] = mapped_column(String(200), default="")
    no_overdraft: Mapped[bool] = mapped_column(default=False)
    # The running balance (signed, debit positive) of a no-overdraft account; NULL for the
    # others, whose balance is the sum of their postings (see `balance`).
    balance: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class JournalEntry(Base):
    __tablename__ = "journal_entries"
    __table_args__ = (Index("ix_journal_entries_loan", "loan_id", "occurred_at"),)

    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(300), default="")
    loan_id: Mapped[int | None] = mapped_column(BigInteger)
    member_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    reverses_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("journal_entries.id"), unique=True
    )
    meta: Mapped[JSONDict] = mapped_column(default=dict)
    occurred_at: Mapped[Timestamp]
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    postings: Mapped[list[Posting]] = relationship(
        back_populates="entry", order_by="Posting.id", lazy="selectin"
    )


class Posting(Base):
    __tablename__ = "ledger_postings"

    id: Mapped[intpk]
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("journal_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[MinorUnits]
    currency: Mapped[str] = mapped_column(String(3))

    entry: Mapped[JournalEntry] = relationship(back_populates="postings")
    account: Mapped[Account] = relationship(lazy="joined")
