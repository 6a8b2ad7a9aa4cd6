"""members: how many PIN locks in a row (30 minutes, then 24 hours, then until unlocked)

Revision ID: 0440_pin_lock_level
Revises: 0430_lender_credits
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0440_pin_lock_level"
down_revision: str | Sequence[str] | None = "0430_lender_credits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("pin_lock_level", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.drop_column("pin_lock_level")
