"""impact: surveys, invitations, responses, opt-outs, operating expenses; SMS tips

Revision ID: 1000_impact
Revises:
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import BigId, UTCDateTime

revision: str = "1000_impact"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("impact",)
depends_on: str | Sequence[str] | None = ("0400_lending", "0310_ledger_derived_balances",
                                              "0200_messaging")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"],
                                   name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "impact_surveys",
        sa.Column("id", BigId, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_impact_surveys"),
        sa.UniqueConstraint("code", name="uq_impact_surveys_code"),
    )
    op.create_table(
        "impact_invitations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("survey_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("milestone", sa.String(16), nullable=True),
        sa.Column("loan_id", BigId, nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("offered_at", UTCDateTime(), nullable=False),
        sa.Column("consented_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_impact_invitations"),
        sa.UniqueConstraint("key", name="uq_impact_invitations_key"),
        _fk("impact_invitations", "survey_id", "impact_surveys"),
        _fk("impact_invitations", "member_id", "members"),
        _fk("impact_invitations", "loan_id", "loans"),
    )
    op.create_index("ix_impact_invitations_member_offered", "impact_invitations",
                    ["member_id", "offered_at"])
    op.create_table(
        "impact_responses",
        sa.Column("id", BigId, nullable=False),
        sa.Column("invitation_id", BigId, nullable=False),
        sa.Column("survey_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_impact_responses"),
        sa.UniqueConstraint("invitation_id", name="uq_impact_responses_invitation_id"),
        _fk("impact_responses", "invitation_id", "impact_invitations"),
        _fk("impact_responses", "survey_id", "impact_surveys"),
        _fk("impact_responses", "member_id", "members"),
    )
    op.create_index("ix_impact_responses_survey_id", "impact_responses", ["survey_id"])
    op.create_index("ix_impact_responses_member_id", "impact_responses", ["member_id"])
    op.create_table(
        "impact_optouts",
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("opted_out_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name="pk_impact_optouts"),
        _fk("impact_optouts", "member_id", "members"),
    )
    op.create_table(
        "operating_expenses",
        sa.Column("id", BigId, nullable=False),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("incurred_on", UTCDateTime(), nullable=False),
        sa.Column("journal_entry_id", BigId, nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_operating_expenses"),
        sa.UniqueConstraint("key", name="uq_operating_expenses_key"),
        _fk("operating_expenses", "journal_entry_id", "journal_entries"),
    )
    op.create_table(
        "lesson_progress",
        sa.Column("id", BigId, nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("lesson", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lesson_progress"),
        sa.UniqueConstraint("key", name="uq_lesson_progress_key"),
        _fk("lesson_progress", "member_id", "members"),
    )
    op.create_index("ix_lesson_progress_member_id", "lesson_progress", ["member_id"])
    with op.batch_alter_table("sms_messages") as batch:
        batch.add_column(sa.Column("tip", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sms_messages") as batch:
        batch.drop_column("tip")
    op.drop_index("ix_lesson_progress_member_id", table_name="lesson_progress")
    op.drop_table("lesson_progress")
    op.drop_table("operating_expenses")
    op.drop_table("impact_optouts")
    op.drop_index("ix_impact_responses_member_id", table_name="impact_responses")
    op.drop_index("ix_impact_responses_survey_id", table_name="impact_responses")
    op.drop_table("impact_responses")
    op.drop_index("ix_impact_invitations_member_offered", table_name="impact_invitations")
    op.drop_table("impact_invitations")
    op.drop_table("impact_surveys")
