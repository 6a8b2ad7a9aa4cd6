"""recon: statement imports and lines, reconciliation items, runs, matches, pending actions

Revision ID: 0700_recon
Revises:
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import BigId, UTCDateTime

revision: str = "0700_recon"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("recon",)
depends_on: str | Sequence[str] | None = ("0500_payments", "0600_ops")


def upgrade() -> None:
    op.create_table(
        "statement_imports",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_hash", sa.String(64), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("paid_in_total", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn_total", sa.BigInteger(), nullable=False),
        sa.Column("first_at", UTCDateTime(), nullable=True),
        sa.Column("last_at", UTCDateTime(), nullable=True),
        sa.Column("first_epoch", sa.BigInteger(), nullable=True),
        sa.Column("last_epoch", sa.BigInteger(), nullable=True),
        sa.Column("imported_by", sa.String(200), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_statement_imports"),
        sa.UniqueConstraint("file_hash", name="uq_statement_imports_file_hash"),
    )
    op.create_table(
        "statement_lines",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("import_id", BigId, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("receipt", sa.String(40), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=False),
        sa.Column("completed_epoch", sa.BigInteger(), nullable=False),
        sa.Column("initiated_at", UTCDateTime(), nullable=True),
        sa.Column("details", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("paid_in", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=True),
        sa.Column("balance_confirmed", sa.Boolean(), nullable=True),
        sa.Column("reason_type", sa.String(60), nullable=False),
        sa.Column("other_party", sa.String(160), nullable=False),
        sa.Column("party_name", sa.String(120), nullable=False),
        sa.Column("party_phone", sa.String(20), nullable=False),
        sa.Column("phone_key", sa.String(8), nullable=True),
        sa.Column("account_reference", sa.String(40), nullable=False),
        sa.Column("linked_receipt", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_statement_lines"),
        sa.ForeignKeyConstraint(["import_id"], ["statement_imports.id"],
                                name="fk_statement_lines_import_id_statement_imports"),
        sa.UniqueConstraint("receipt", name="uq_statement_lines_receipt"),
    )
    op.create_index("ix_statement_lines_import_id", "statement_lines", ["import_id"])

    op.create_table(
        "recon_items",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("source", sa.String(12), nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("receipt", sa.String(40), nullable=True),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("phone_key", sa.String(8), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("occurred_epoch", sa.BigInteger(), nullable=False),
        sa.Column("intent_id", sa.BigInteger(), nullable=True),
        sa.Column("journal_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("loan_id", sa.BigInteger(), nullable=True),
        sa.Column("duplicate_of", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recon_items"),
        sa.UniqueConstraint("source", "source_id", name="uq_recon_items_source_source_id"),
    )
    # Matching is hash joins over whole tables (docs/reconciliation.md): receipt,
    # reference, phone and time need no index, and each would slow the snapshot.

    op.create_table(
        "recon_runs",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recon_runs"),
    )
    op.create_table(
        "recon_matches",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("statement_line_id", BigId, nullable=False),
        sa.Column("item_id", BigId, nullable=False),
        sa.Column("rule", sa.String(20), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("statement_amount", sa.BigInteger(), nullable=False),
        sa.Column("item_amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recon_matches"),
        sa.UniqueConstraint("statement_line_id", "item_id",
                            name="uq_recon_matches_statement_line_id_item_id"),
    )
    # No foreign keys and only the indexes the anti-joins need: matches are written a
    # million at a time from joins of rows that exist in the same transaction, and each
    # foreign-key check or extra index would cost a lookup per row (docs/reconciliation.md).

    op.create_table(
        "recon_actions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("break_id", BigId, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("maker", sa.String(200), nullable=False),
        sa.Column("maker_key", sa.String(80), nullable=False),
        sa.Column("checker", sa.String(200), nullable=True),
        sa.Column("checker_key", sa.String(80), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recon_actions"),
        sa.ForeignKeyConstraint(["break_id"], ["reconciliation_breaks.id"],
                                name="fk_recon_actions_break_id_reconciliation_breaks"),
    )
    op.create_index("ix_recon_actions_break_id", "recon_actions", ["break_id"])
    op.create_index("ix_recon_actions_status", "recon_actions", ["status"])


def downgrade() -> None:
    op.drop_table("recon_actions")
    op.drop_table("recon_matches")
    op.drop_table("recon_runs")
    op.drop_table("recon_items")
    op.drop_table("statement_lines")
    op.drop_table("statement_imports")
