"""ledger: accounts, journal entries, postings (append-only on PostgreSQL)

Revision ID: 0300_ledger
Revises:
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import BigId, UTCDateTime

revision: str = "0300_ledger"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("ledger",)
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION mkopo_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the ledger is append-only: post a reversing entry instead';
END;
$$ LANGUAGE plpgsql;
"""


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("code", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("no_overdraft", sa.Boolean(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_accounts"),
        sa.UniqueConstraint("code", name="uq_ledger_accounts_code"),
        sa.CheckConstraint(
            "kind IN ('asset', 'liability', 'income', 'expense', 'equity')",
            name="ck_ledger_accounts_kind",
        ),
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=True),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("reverses_id", BigId, nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_journal_entries"),
        sa.UniqueConstraint("key", name="uq_journal_entries_key"),
        sa.UniqueConstraint("reverses_id", name="uq_journal_entries_reverses_id"),
        sa.ForeignKeyConstraint(
            ["reverses_id"], ["journal_entries.id"],
            name="fk_journal_entries_reverses_id_journal_entries",
        ),
    )
    op.create_index("ix_journal_entries_loan", "journal_entries", ["loan_id", "occurred_at"])
    op.create_index("ix_journal_entries_member_id", "journal_entries", ["member_id"])
    op.create_table(
        "ledger_postings",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("account_id", BigId, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_postings"),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"],
            name="fk_ledger_postings_entry_id_journal_entries",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"],
            name="fk_ledger_postings_account_id_ledger_accounts",
        ),
    )
    op.create_index("ix_ledger_postings_entry_id", "ledger_postings", ["entry_id"])
    op.create_index("ix_ledger_postings_account_id", "ledger_postings", ["account_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)
        for table in ("ledger_postings", "journal_entries"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION mkopo_append_only()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("ledger_postings", "journal_entries"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS mkopo_append_only()")
    op.drop_table("ledger_postings")
    op.drop_index("ix_journal_entries_member_id", table_name="journal_entries")
    op.drop_index("ix_journal_entries_loan", table_name="journal_entries")
    op.drop_table("journal_entries")
    op.drop_table("ledger_accounts")
