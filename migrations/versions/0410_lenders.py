"""lenders: auto-lend settings and allocations, loan stories

Revision ID: 0410_lenders
Revises: 0400_lending
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import BigId, UTCDateTime

revision: str = "0410_lenders"
down_revision: str | Sequence[str] | None = "0400_lending"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"],
                                   name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "autolend_settings",
        sa.Column("lender_id", BigId, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("sectors", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("women_only", sa.Boolean(), nullable=False),
        sa.Column("max_per_loan", sa.BigInteger(), nullable=False),
        sa.Column("max_risk_rating", sa.Integer(), nullable=True),
        sa.Column("reserve", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("lender_id", name="pk_autolend_settings"),
        _fk("autolend_settings", "lender_id", "members"),
    )
    op.create_table(
        "autolend_allocations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("lender_id", BigId, nullable=False),
        sa.Column("loan_id", BigId, nullable=False),
        sa.Column("funding_id", BigId, nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_autolend_allocations"),
        _fk("autolend_allocations", "lender_id", "members"),
        _fk("autolend_allocations", "loan_id", "loans"),
        _fk("autolend_allocations", "funding_id", "loan_fundings"),
        sa.UniqueConstraint("funding_id", name="uq_autolend_allocations_funding_id"),
    )
    op.create_index("ix_autolend_allocations_lender_id", "autolend_allocations", ["lender_id"])
    op.create_index("ix_autolend_allocations_loan_id", "autolend_allocations", ["loan_id"])
    op.create_table(
        "loan_stories",
        sa.Column("loan_id", BigId, nullable=False),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("loan_id", name="pk_loan_stories"),
        _fk("loan_stories", "loan_id", "loans"),
    )


def downgrade() -> None:
    op.drop_table("loan_stories")
    op.drop_index("ix_autolend_allocations_loan_id", table_name="autolend_allocations")
    op.drop_index("ix_autolend_allocations_lender_id", table_name="autolend_allocations")
    op.drop_table("autolend_allocations")
    op.drop_table("autolend_settings")
