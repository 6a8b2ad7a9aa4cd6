"""messaging: outbound and inbound SMS, opt-outs, raw delivery reports

Revision ID: 0200_messaging
Revises:
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import BigId, UTCDateTime

revision: str = "0200_messaging"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("messaging",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_messages",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("idempotency_key", sa.String(120), nullable=False),
        sa.Column("to_phone", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("template", sa.String(40), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("provider_message_id", sa.String(64), nullable=True),
        sa.Column("cost", sa.String(32), nullable=True),
        sa.Column("cost_minor", sa.BigInteger(), nullable=True),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("failure_reason", sa.String(80), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sms_messages"),
        sa.UniqueConstraint("idempotency_key", name="uq_sms_messages_idempotency_key"),
        sa.UniqueConstraint("provider_message_id", name="uq_sms_messages_provider_message_id"),
    )
    op.create_index(
        "ix_sms_messages_to_phone_created", "sms_messages", ["to_phone", "created_at"]
    )
    op.create_table(
        "sms_inbound",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("provider_id", sa.String(64), nullable=False),
        sa.Column("from_phone", sa.String(20), nullable=False),
        sa.Column("to_code", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link_id", sa.String(64), nullable=True),
        sa.Column("network_code", sa.String(10), nullable=True),
        sa.Column("provider_date", sa.String(32), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("reply_message_id", BigId, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sms_inbound"),
        sa.UniqueConstraint("provider_id", name="uq_sms_inbound_provider_id"),
        sa.ForeignKeyConstraint(
            ["reply_message_id"], ["sms_messages.id"],
            name="fk_sms_inbound_reply_message_id_sms_messages", ondelete="SET NULL",
        ),
    )
    op.create_table(
        "sms_opt_outs",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("opted_out_at", UTCDateTime(), nullable=False),
        sa.Column("opted_back_in_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sms_opt_outs"),
        sa.UniqueConstraint("phone", name="uq_sms_opt_outs_phone"),
    )
    op.create_table(
        "sms_delivery_reports",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("provider_message_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("network_code", sa.String(10), nullable=True),
        sa.Column("failure_reason", sa.String(80), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_delivery_reports"),
        sa.UniqueConstraint(
            "provider_message_id", "status",
            name="uq_sms_delivery_reports_provider_message_id_status",
        ),
    )


def downgrade() -> None:
    op.drop_table("sms_delivery_reports")
    op.drop_table("sms_opt_outs")
    op.drop_table("sms_inbound")
    op.drop_index("ix_sms_messages_to_phone_created", table_name="sms_messages")
    op.drop_table("sms_messages")
