"""savings: products, accounts, transfers, chamas, chama members and payouts

Revision ID: 0800_savings
Revises:
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import BigId, UTCDateTime

revision: str = "0800_savings"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("savings",)
depends_on: str | Sequence[str] | None = ("0410_lenders", "0500_payments")


def _id(table: str) -> list[sa.schema.SchemaItem]:
    return [sa.Column("id", BigId, nullable=False),
            sa.PrimaryKeyConstraint("id", name=f"pk_{table}")]


def _ref(table: str, column: str, target: str, nullable: bool = False) -> list[
        sa.schema.SchemaItem]:
    return [sa.Column(column, BigId, nullable=nullable),
            sa.ForeignKeyConstraint([column], [f"{target}.id"],
                                    name=f"fk_{table}_{column}_{target}")]


def upgrade() -> None:
    op.create_table(
        "savings_products",
        *_id("savings_products"),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("annual_rate_bp", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("code", name="uq_savings_products_code"),
        sa.CheckConstraint("annual_rate_bp >= 0 AND annual_rate_bp <= 5000",
                           name="ck_savings_products_annual_rate_bp"),
    )
    op.create_table(
        "savings_accounts",
        *_id("savings_accounts"),
        *_ref("savings_accounts", "member_id", "members"),
        *_ref("savings_accounts", "product_id", "savings_products"),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("label", sa.String(40), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=True),
        sa.Column("lock_until", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("member_id", "label", name="uq_savings_accounts_member_id_label"),
        sa.CheckConstraint("kind IN ('personal', 'goal')", name="ck_savings_accounts_kind"),
        sa.CheckConstraint("target IS NULL OR target > 0", name="ck_savings_accounts_target"),
    )
    op.create_index("ix_savings_accounts_member_id", "savings_accounts", ["member_id"])
    op.create_table(
        "chamas",
        *_id("chamas"),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("contribution", sa.BigInteger(), nullable=False),
        sa.Column("frequency", sa.String(10), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("payouts_per_round", sa.Integer(), nullable=False),
        sa.Column("current_round", sa.Integer(), nullable=False),
        *_ref("chamas", "field_partner_id", "field_partners", nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("code", name="uq_chamas_code"),
        sa.CheckConstraint("contribution > 0", name="ck_chamas_contribution"),
        sa.CheckConstraint("frequency IN ('weekly', 'monthly')", name="ck_chamas_frequency"),
        sa.CheckConstraint("payouts_per_round >= 1", name="ck_chamas_payouts_per_round"),
        sa.CheckConstraint("current_round >= 1", name="ck_chamas_current_round"),
    )
    op.create_table(
        "chama_members",
        *_id("chama_members"),
        *_ref("chama_members", "chama_id", "chamas"),
        *_ref("chama_members", "member_id", "members"),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("joined_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("chama_id", "member_id", name="uq_chama_members_chama_id_member_id"),
        sa.UniqueConstraint("chama_id", "position", name="uq_chama_members_chama_id_position"),
    )
    op.create_index("ix_chama_members_member_id", "chama_members", ["member_id"])
    op.create_table(
        "chama_payouts",
        *_id("chama_payouts"),
        *_ref("chama_payouts", "chama_id", "chamas"),
        sa.Column("round", sa.Integer(), nullable=False),
        *_ref("chama_payouts", "member_id", "members"),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        *_ref("chama_payouts", "intent_id", "payment_intents", nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("chama_id", "round", "member_id",
                            name="uq_chama_payouts_chama_id_round_member_id"),
    )
    op.create_index("ix_chama_payouts_chama_id", "chama_payouts", ["chama_id"])
    op.create_table(
        "savings_transfers",
        *_id("savings_transfers"),
        *_ref("savings_transfers", "intent_id", "payment_intents"),
        sa.Column("kind", sa.String(12), nullable=False),
        *_ref("savings_transfers", "member_id", "members"),
        *_ref("savings_transfers", "account_id", "savings_accounts", nullable=True),
        *_ref("savings_transfers", "chama_id", "chamas", nullable=True),
        sa.Column("round", sa.Integer(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("intent_id", name="uq_savings_transfers_intent_id"),
        sa.CheckConstraint("(account_id IS NULL) <> (chama_id IS NULL)",
                           name="ck_savings_transfers_one_target"),
    )
    op.create_index("ix_savings_transfers_account_id", "savings_transfers", ["account_id"])
    op.create_index("ix_savings_transfers_chama_id", "savings_transfers", ["chama_id"])
    op.create_index("ix_savings_transfers_member_created", "savings_transfers",
                    ["member_id", "created_at"])


def downgrade() -> None:
    for table in ("savings_transfers", "chama_payouts", "chama_members", "chamas",
                  "savings_accounts", "savings_products"):
        op.drop_table(table)
