"""menus: USSD end-of-session events

Revision ID: 0100_menus
Revises:
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import BigId, UTCDateTime

revision: str = "0100_menus"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("menus",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ussd_events",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("session_id", sa.String(128), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("service_code", sa.String(40), nullable=False),
        sa.Column("network_code", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("last_screen", sa.String(60), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("last_response", sa.Text(), nullable=False),
        sa.Column("hops", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("cost", sa.String(40), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ussd_events"),
        sa.UniqueConstraint("session_id", name="uq_ussd_events_session_id"),
    )
    op.create_index(
        "ix_ussd_events_screen_status", "ussd_events", ["last_screen", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_ussd_events_screen_status", table_name="ussd_events")
    op.drop_table("ussd_events")
