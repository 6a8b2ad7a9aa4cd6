"""Money-movement tables: payment intents, the raw callback inbox, reconciliation breaks.

Also the mobile-money simulator's own record of what "M-Pesa" did
(`sim_mpesa_transactions`): it lives here so that the schema, the migration and
the test clean-up see every table, but only `payments.providers.simulator` writes to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigId, MinorUnits, intpk

# --- payment intents ---------------------------------------------------------------------

REPAYMENT, DEPOSIT, DISBURSEMENT, WITHDRAWAL, REVERSAL = (
    "repayment", "deposit", "disbursement", "withdrawal", "reversal")
INTENT_KINDS = (REPAYMENT, DEPOSIT, DISBURSEMENT, WITHDRAWAL, REVERSAL)
COLLECTIONS: list[str] = [REPAYMENT, DEPOSIT]
"""Intents that ask a customer to pay us (an STK push); other domains add theirs
(`payments.kinds.register`)."""
PAYOUTS: list[str] = [DISBURSEMENT, WITHDRAWAL]
"""Intents that send money to a customer (B2C); other domains add theirs."""

PENDING = "pending"
REQUESTED = "requested"
AWAITING_APPROVAL = "awaiting_approval"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
UNKNOWN = "unknown"
INTENT_STATUSES = (PENDING, REQUESTED, AWAITING_APPROVAL, SUCCEEDED, FAILED, CANCELLED, UNKNOWN)
OPEN_STATUSES = (PENDING, REQUESTED, AWAITING_APPROVAL)
SETTLED_STATUSES = (SUCCEEDED, FAILED, CANCELLED)


class PaymentIntent(Base):
    """One money movement we asked the provider for, from request to settlement."""

    __tablename__ = "payment_intents"
    __table_args__ = (
        Index("ix_payment_intents_status_deadline", "status", "deadline_at"),
        Index("ix_payment_intents_loan", "loan_id", "kind"),
    )

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    loan_id: Mapped[int | None] = mapped_column(BigInteger)
    phone: Mapped[str] = mapped_column(String(16))
    amount: Mapped[MinorUnits]
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(40), default="")
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    checkout_request_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    merchant_request_id: Mapped[str | None] = mapped_column(String(80))
    originator_conversation_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    conversation_id: Mapped[str | None] = mapped_column(String(80))
    receipt: Mapped[str | None] = mapped_column(String(40), unique=True)
    original_receipt: Mapped[str | None] = mapped_column(String(40))
    result_code: Mapped[str | None] = mapped_column(String(20))
    result_desc: Mapped[str | None] = mapped_column(String(300))
    deadline_at: Mapped[datetime]
    status_queries: Mapped[int] = mapped_column(default=0)
    last_query_id: Mapped[str | None] = mapped_column(String(80), index=True)
    approved_by: Mapped[str | None] = mapped_column(String(80))
    approved_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


# --- the callback inbox ------------------------------------------------------------------

RECEIVED, PROCESSED, INBOX_FAILED, BREAK = "received", "processed", "failed", "break"
INBOX_STATUSES = (RECEIVED, PROCESSED, INBOX_FAILED, BREAK)


class CallbackInbox(Base):
    """A provider callback exactly as it arrived, stored before anything else happens."""

    __tablename__ = "callback_inbox"
    __table_args__ = (
        UniqueConstraint("provider", "kind", "external_id"),
        Index("ix_callback_inbox_status_received", "status", "received_at"),
    )

    id: Mapped[intpk]
    provider: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(24))
    external_id: Mapped[str] = mapped_column(String(120))
    raw: Mapped[str] = mapped_column(Text)
    remote_addr: Mapped[str | None] = mapped_column(String(45))
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), default=RECEIVED)
    attempts: Mapped[int] = mapped_column(default=0)
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


# --- reconciliation breaks ---------------------------------------------------------------

CALLBACK_WITHOUT_INTENT = "callback_without_intent"
INTENT_WITHOUT_CALLBACK = "intent_without_callback"
AMOUNT_MISMATCH = "amount_mismatch"
DUPLICATE = "duplicate"
STATEMENT_WITHOUT_LEDGER = "statement_without_ledger"
LEDGER_WITHOUT_STATEMENT = "ledger_without_statement"
STALE_PENDING = "stale_pending"
PAYOUT_FAILED = "payout_failed"
UNMATCHED_C2B = "unmatched_c2b"
CONFLICTING_OUTCOME = "conflicting_outcome"
UNAPPLIED_PAYMENT = "unapplied_payment"
UNPROCESSABLE_CALLBACK = "unprocessable_callback"
BREAK_TYPES = (
    CALLBACK_WITHOUT_INTENT, INTENT_WITHOUT_CALLBACK, AMOUNT_MISMATCH, DUPLICATE,
    STATEMENT_WITHOUT_LEDGER, LEDGER_WITHOUT_STATEMENT, STALE_PENDING, PAYOUT_FAILED,
    UNMATCHED_C2B, CONFLICTING_OUTCOME, UNAPPLIED_PAYMENT, UNPROCESSABLE_CALLBACK,
)
"""Known types. The column is free text so reconciliation can add types without a migration."""

OPEN, RESOLVED, DISMISSED = "open", "resolved", "dismissed"
BREAK_STATUSES = (OPEN, RESOLVED, DISMISSED)


class ReconciliationBreak(Base):
    """Something that does not match and needs an operator; one per money fact.

    `dedupe_key` is the fact's natural key (`payments.breaks.fact_key`), unique.
    """

    __tablename__ = "reconciliation_breaks"
    __table_args__ = (Index("ix_reconciliation_breaks_status_type", "status", "type"),)

    id: Mapped[intpk]
    type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12), default=OPEN)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="KES")
    receipt: Mapped[str | None] = mapped_column(String(40), index=True)
    phone: Mapped[str | None] = mapped_column(String(16))
    intent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("payment_intents.id"), index=True)
    inbox_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("callback_inbox.id"))
    loan_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    journal_entry_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("journal_entries.id"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(80))
    resolution: Mapped[str | None] = mapped_column(Text)


# --- the simulator's own record ----------------------------------------------------------


class SimMpesaTransaction(Base):
    """What the simulated M-Pesa did: the independent record the ledger is checked against."""

    __tablename__ = "sim_mpesa_transactions"
    __table_args__ = (
        UniqueConstraint("kind", "idempotency_key"),
        Index("ix_sim_mpesa_transactions_phone_status", "phone", "status"),
    )

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(12))  # stk | b2c | c2b | reversal | status
    idempotency_key: Mapped[str] = mapped_column(String(120))
    external_id: Mapped[str] = mapped_column(String(80), unique=True)
    conversation_id: Mapped[str | None] = mapped_column(String(80))
    merchant_request_id: Mapped[str | None] = mapped_column(String(80))
    phone: Mapped[str] = mapped_column(String(16))
    amount: Mapped[MinorUnits]
    account_reference: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(24))
    result_code: Mapped[str | None] = mapped_column(String(20))
    receipt: Mapped[str | None] = mapped_column(String(40), unique=True)
    original_receipt: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))  # prompted | completed | failed
    callbacks_sent: Mapped[int] = mapped_column(default=0)
    behaviour: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
