"""lenders: how each hears of repayments (daily digest or each), and their credits per repayment

Revision ID: 0430_lender_credits
Revises: 0410_lenders
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import BigId, UTCDateTime

revision: str = "0430_lender_credits"
down_revision: str | Sequence[str] | None = "0410_lenders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("repayment_sms", sa.String(10), nullable=False,
                                   server_default="digest"))
    op.create_table(
        "lender_credits",
        sa.Column("id", BigId, nullable=False),
        sa.Column("repayment_id", BigId, nullable=False),
        sa.Column("lender_id", BigId, nullable=False),
        sa.Column("loan_reference", sa.String(12), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("notified_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lender_credits"),
        sa.ForeignKeyConstraint(["repayment_id"], ["repayments.id"],
                                name="fk_lender_credits_repayment_id_repayments"),
        sa.ForeignKeyConstraint(["lender_id"], ["members.id"],
                                name="fk_lender_credits_lender_id_members"),
        sa.UniqueConstraint("repayment_id", "lender_id",
                            name="uq_lender_credits_repayment_id_lender_id"),
    )
    op.create_index("ix_lender_credits_lender_id", "lender_credits", ["lender_id"])
    op.create_index("ix_lender_credits_unsent", "lender_credits", ["notified_at", "received_at"])


def downgrade() -> None:
    op.drop_table("lender_credits")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("repayment_sms")
