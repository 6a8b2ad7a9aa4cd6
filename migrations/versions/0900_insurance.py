"""insurance: credit-life premium on products and loans, policies, claims

Revision ID: 0900_insurance
Revises:
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

from core.db import BigId, UTCDateTime

revision: str = "0900_insurance"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("insurance",)
depends_on: str | Sequence[str] | None = ("0410_lenders", "0500_payments")


def _id(table: str) -> list[SchemaItem]:
    return [sa.Column("id", BigId, nullable=False),
            sa.PrimaryKeyConstraint("id", name=f"pk_{table}")]


def _ref(table: str, column: str, target: str, nullable: bool = False) -> list[SchemaItem]:
    return [sa.Column(column, BigId, nullable=nullable),
            sa.ForeignKeyConstraint([column], [f"{target}.id"],
                                    name=f"fk_{table}_{column}_{target}")]


def upgrade() -> None:
    # Existing products and loans carry no cover: the defaults fill them, then go away
    # (the models give the values), as in every other column of these tables.
    with op.batch_alter_table("loan_products") as batch:
        batch.add_column(sa.Column("credit_life_premium_percent", sa.String(16),
                                   nullable=False, server_default="0"))
    with op.batch_alter_table("loan_products") as batch:
        batch.alter_column("credit_life_premium_percent", server_default=None)
    with op.batch_alter_table("loans") as batch:
        batch.add_column(sa.Column("credit_life_premium", sa.BigInteger(), nullable=False,
                                   server_default="0"))
    with op.batch_alter_table("loans") as batch:
        batch.alter_column("credit_life_premium", server_default=None)

    op.create_table(
        "insurance_policies",
        *_id("insurance_policies"),
        sa.Column("kind", sa.String(16), nullable=False),
        *_ref("insurance_policies", "member_id", "members"),
        *_ref("insurance_policies", "loan_id", "loans", nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("premium", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("nightly_benefit", sa.BigInteger(), nullable=False),
        sa.Column("max_nights", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("intent_id", sa.BigInteger(), nullable=True),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('credit_life', 'hospital_cash')",
                           name="ck_insurance_policies_kind"),
        sa.CheckConstraint("premium >= 0", name="ck_insurance_policies_premium"),
        sa.UniqueConstraint("loan_id", name="uq_insurance_policies_loan_id"),
        sa.UniqueConstraint("intent_id", name="uq_insurance_policies_intent_id"),
        sa.UniqueConstraint("key", name="uq_insurance_policies_key"),
    )
    op.create_index("ix_insurance_policies_member_kind", "insurance_policies",
                    ["member_id", "kind"])

    op.create_table(
        "insurance_claims",
        *_id("insurance_claims"),
        *_ref("insurance_claims", "policy_id", "insurance_policies"),
        *_ref("insurance_claims", "member_id", "members"),
        sa.Column("cause", sa.String(12), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("nights", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("filed_by", sa.String(80), nullable=False),
        sa.Column("channel", sa.String(12), nullable=False),
        sa.Column("decided_by", sa.String(80), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("payout_attempts", sa.Integer(), nullable=False),
        sa.Column("payout_intent_id", sa.BigInteger(), nullable=True),
        sa.Column("paid_at", UTCDateTime(), nullable=True),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_insurance_claims_amount"),
        sa.CheckConstraint("nights >= 0", name="ck_insurance_claims_nights"),
        sa.UniqueConstraint("payout_intent_id", name="uq_insurance_claims_payout_intent_id"),
        sa.UniqueConstraint("key", name="uq_insurance_claims_key"),
    )
    op.create_index("ix_insurance_claims_policy_id", "insurance_claims", ["policy_id"])
    op.create_index("ix_insurance_claims_member_id", "insurance_claims", ["member_id"])
    op.create_index("ix_insurance_claims_status", "insurance_claims", ["status", "created_at"])


def downgrade() -> None:
    op.drop_table("insurance_claims")
    op.drop_table("insurance_policies")
    with op.batch_alter_table("loans") as batch:
        batch.drop_column("credit_life_premium")
    with op.batch_alter_table("loan_products") as batch:
        batch.drop_column("credit_life_premium_percent")
