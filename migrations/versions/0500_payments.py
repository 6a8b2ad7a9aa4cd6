"""payments: payment intents, callback inbox, reconciliation breaks, simulator record

Revision ID: 0500_payments
Revises:
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import BigId, UTCDateTime

revision: str = "0500_payments"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("payments",)
depends_on: str | Sequence[str] | None = "0300_ledger"


def upgrade() -> None:
    op.create_table(
        "payment_intents",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("loan_id", sa.BigInteger(), nullable=True),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(120), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("checkout_request_id", sa.String(80), nullable=True),
        sa.Column("merchant_request_id", sa.String(80), nullable=True),
        sa.Column("originator_conversation_id", sa.String(80), nullable=True),
        sa.Column("conversation_id", sa.String(80), nullable=True),
        sa.Column("receipt", sa.String(40), nullable=True),
        sa.Column("original_receipt", sa.String(40), nullable=True),
        sa.Column("result_code", sa.String(20), nullable=True),
        sa.Column("result_desc", sa.String(300), nullable=True),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("status_queries", sa.Integer(), nullable=False),
        sa.Column("last_query_id", sa.String(80), nullable=True),
        sa.Column("approved_by", sa.String(80), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_payment_intents"),
        sa.UniqueConstraint("idempotency_key", name="uq_payment_intents_idempotency_key"),
        sa.UniqueConstraint("checkout_request_id", name="uq_payment_intents_checkout_request_id"),
        sa.UniqueConstraint(
            "originator_conversation_id", name="uq_payment_intents_originator_conversation_id"),
        sa.UniqueConstraint("receipt", name="uq_payment_intents_receipt"),
    )
    op.create_index("ix_payment_intents_status_deadline", "payment_intents",
                    ["status", "deadline_at"])
    op.create_index("ix_payment_intents_loan", "payment_intents", ["loan_id", "kind"])
    op.create_index("ix_payment_intents_member_id", "payment_intents", ["member_id"])
    op.create_index("ix_payment_intents_last_query_id", "payment_intents", ["last_query_id"])

    op.create_table(
        "callback_inbox",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("external_id", sa.String(120), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("remote_addr", sa.String(45), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_callback_inbox"),
        sa.UniqueConstraint("provider", "kind", "external_id",
                            name="uq_callback_inbox_provider_kind_external_id"),
    )
    op.create_index("ix_callback_inbox_status_received", "callback_inbox",
                    ["status", "received_at"])

    op.create_table(
        "reconciliation_breaks",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("receipt", sa.String(40), nullable=True),
        sa.Column("phone", sa.String(16), nullable=True),
        sa.Column("intent_id", BigId, nullable=True),
        sa.Column("inbox_id", BigId, nullable=True),
        sa.Column("loan_id", sa.BigInteger(), nullable=True),
        sa.Column("journal_entry_id", BigId, nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(80), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation_breaks"),
        sa.UniqueConstraint("dedupe_key", name="uq_reconciliation_breaks_dedupe_key"),
        sa.ForeignKeyConstraint(["intent_id"], ["payment_intents.id"],
                                name="fk_reconciliation_breaks_intent_id_payment_intents"),
        sa.ForeignKeyConstraint(["inbox_id"], ["callback_inbox.id"],
                                name="fk_reconciliation_breaks_inbox_id_callback_inbox"),
        sa.ForeignKeyConstraint(["journal_entry_id"], ["journal_entries.id"],
                                name="fk_reconciliation_breaks_journal_entry_id_journal_entries"),
    )
    op.create_index("ix_reconciliation_breaks_status_type", "reconciliation_breaks",
                    ["status", "type"])
    op.create_index("ix_reconciliation_breaks_receipt", "reconciliation_breaks", ["receipt"])
    op.create_index("ix_reconciliation_breaks_intent_id", "reconciliation_breaks", ["intent_id"])
    op.create_index("ix_reconciliation_breaks_loan_id", "reconciliation_breaks", ["loan_id"])

    op.create_table(
        "sim_mpesa_transactions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("idempotency_key", sa.String(120), nullable=False),
        sa.Column("external_id", sa.String(80), nullable=False),
        sa.Column("conversation_id", sa.String(80), nullable=True),
        sa.Column("merchant_request_id", sa.String(80), nullable=True),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("account_reference", sa.String(40), nullable=True),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("result_code", sa.String(20), nullable=True),
        sa.Column("receipt", sa.String(40), nullable=True),
        sa.Column("original_receipt", sa.String(40), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("callbacks_sent", sa.Integer(), nullable=False),
        sa.Column("behaviour", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sim_mpesa_transactions"),
        sa.UniqueConstraint("kind", "idempotency_key",
                            name="uq_sim_mpesa_transactions_kind_idempotency_key"),
        sa.UniqueConstraint("external_id", name="uq_sim_mpesa_transactions_external_id"),
        sa.UniqueConstraint("receipt", name="uq_sim_mpesa_transactions_receipt"),
    )
    op.create_index("ix_sim_mpesa_transactions_phone_status", "sim_mpesa_transactions",
                    ["phone", "status"])


def downgrade() -> None:
    op.drop_index("ix_sim_mpesa_transactions_phone_status", table_name="sim_mpesa_transactions")
    op.drop_table("sim_mpesa_transactions")
    for name in ("ix_reconciliation_breaks_loan_id", "ix_reconciliation_breaks_intent_id",
                 "ix_reconciliation_breaks_receipt", "ix_reconciliation_breaks_status_type"):
        op.drop_index(name, table_name="reconciliation_breaks")
    op.drop_table("reconciliation_breaks")
    op.drop_index("ix_callback_inbox_status_received", table_name="callback_inbox")
    op.drop_table("callback_inbox")
    for name in ("ix_payment_intents_last_query_id", "ix_payment_intents_member_id",
                 "ix_payment_intents_loan", "ix_payment_intents_status_deadline"):
        op.drop_index(name, table_name="payment_intents")
    op.drop_table("payment_intents")
