"""ledger: running balances only on accounts that may not be overdrawn

The float, income, suspense and loan receivables are only appended to; their
balance is the sum of their postings. Their stored balance becomes NULL.

Revision ID: 0310_ledger_derived_balances
Revises: 0300_ledger
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0310_ledger_derived_balances"
down_revision: str | Sequence[str] | None = "0300_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_accounts") as batch:
        batch.alter_column("balance", existing_type=sa.BigInteger(), nullable=True)
    op.execute("UPDATE ledger_accounts SET balance = NULL WHERE NOT no_overdraft")


def downgrade() -> None:
    op.execute(
        "UPDATE ledger_accounts SET balance = (SELECT COALESCE(SUM(p.amount), 0) "
        "FROM ledger_postings p WHERE p.account_id = ledger_accounts.id) "
        "WHERE balance IS NULL"
    )
    with op.batch_alter_table("ledger_accounts") as batch:
        batch.alter_column("balance", existing_type=sa.BigInteger(), nullable=False)
