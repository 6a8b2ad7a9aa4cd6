"""lending: field partners, members, products, loans, schedules, funding, repayments

Revision ID: 0400_lending
Revises:
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

from core.db import BigId, UTCDateTime

revision: str = "0400_lending"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("lending",)
depends_on: str | Sequence[str] | None = "0300_ledger"


def _id(table: str) -> list[SchemaItem]:
    return [
        sa.Column("id", BigId, primary_key=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def _money(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def _ref(table: str, column: str, target: str, nullable: bool = False) -> list[SchemaItem]:
    return [
        sa.Column(column, BigId, nullable=nullable),
        sa.ForeignKeyConstraint(
            [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}"
        ),
    ]


def _string(name: str, length: int, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _int(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "field_partners",
        *_id("field_partners"),
        _string("name", 120),
        _string("region", 60),
        _int("risk_rating"),
        _at("created_at"),
        sa.CheckConstraint("risk_rating BETWEEN 1 AND 5", name="ck_field_partners_risk_rating"),
    )
    op.create_table(
        "loan_products",
        *_id("loan_products"),
        _string("code", 32),
        _string("name", 80),
        _string("currency", 3),
        _money("min_amount"),
        _money("max_amount"),
        sa.Column("terms", sa.JSON(), nullable=False),
        _string("frequency", 12),
        _string("interest_method", 10),
        _string("interest_rate", 16),
        _string("upfront_fee_percent", 16),
        _money("upfront_fee_flat"),
        _int("grace_periods"),
        _string("penalty_kind", 10),
        _string("penalty_percent", 16),
        _string("penalty_cap_percent", 16),
        _int("funding_window_days"),
        _string("funding_mode", 16),
        _money("share_unit"),
        _int("max_active_loans"),
        _string("overpayment", 10),
        _string("platform_interest_share_percent", 16),
        sa.Column("reminder_offsets", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _at("created_at"),
        sa.UniqueConstraint("code", name="uq_loan_products_code"),
    )
    op.create_table(
        "members",
        *_id("members"),
        _string("phone", 16),
        _string("first_name", 60),
        _string("last_name", 60, nullable=True),
        _string("national_id", 32, nullable=True),
        _string("gender", 1, nullable=True),
        _string("region", 60, nullable=True),
        _string("place", 80, nullable=True),
        _string("sector", 40, nullable=True),
        _string("language", 2),
        _string("status", 24),
        sa.Column("is_borrower", sa.Boolean(), nullable=False),
        sa.Column("is_lender", sa.Boolean(), nullable=False),
        _string("pin_hash", 200),
        _int("failed_pin_attempts"),
        _at("pin_locked_until", nullable=True),
        _at("consent_at", nullable=True),
        sa.Column("reminders_enabled", sa.Boolean(), nullable=False),
        _money("credit_limit"),
        *_ref("members", "field_partner_id", "field_partners", nullable=True),
        _at("verified_at", nullable=True),
        _string("verified_by", 80, nullable=True),
        _at("created_at"),
        sa.UniqueConstraint("phone", name="uq_members_phone"),
        sa.UniqueConstraint("national_id", name="uq_members_national_id"),
        sa.CheckConstraint(
            "gender IS NULL OR gender IN ('f', 'm', 'x')", name="ck_members_gender"
        ),
        sa.CheckConstraint("language IN ('en', 'sw')", name="ck_members_language"),
        sa.CheckConstraint("credit_limit >= 0", name="ck_members_credit_limit"),
    )
    op.create_index("ix_members_field_partner_id", "members", ["field_partner_id"])
    op.create_table(
        "loans",
        *_id("loans"),
        _string("reference", 12),
        *_ref("loans", "borrower_id", "members"),
        *_ref("loans", "product_id", "loan_products"),
        *_ref("loans", "field_partner_id", "field_partners", nullable=True),
        _money("amount"),
        _int("term"),
        _string("purpose", 160),
        _string("sector", 40, nullable=True),
        _string("status", 16),
        _string("currency", 3),
        _money("upfront_fee"),
        _money("net_disbursed"),
        _money("total_repayable"),
        _string("apr", 24),
        _money("funded_amount"),
        sa.Column("start_date", sa.Date(), nullable=True),
        _at("fundraising_deadline", nullable=True),
        _at("disbursed_at", nullable=True),
        _at("closed_at", nullable=True),
        _string("application_key", 120),
        sa.Column("nonperforming_since", sa.Date(), nullable=True),
        _money("in_duplum_cap", nullable=True),
        _money("in_duplum_charged"),
        _int("payout_attempts"),
        _at("created_at"),
        sa.UniqueConstraint("reference", name="uq_loans_reference"),
        sa.UniqueConstraint("application_key", name="uq_loans_application_key"),
        sa.CheckConstraint(
            "funded_amount >= 0 AND funded_amount <= amount", name="ck_loans_funded_amount"
        ),
    )
    op.create_index("ix_loans_borrower_status", "loans", ["borrower_id", "status"])
    op.create_index("ix_loans_status_deadline", "loans", ["status", "fundraising_deadline"])
    op.create_index("ix_loans_field_partner_id", "loans", ["field_partner_id"])
    op.create_table(
        "loan_installments",
        *_id("loan_installments"),
        *_ref("loan_installments", "loan_id", "loans"),
        _int("number"),
        sa.Column("due_date", sa.Date(), nullable=False),
        _money("principal"),
        _money("interest"),
        _money("principal_paid"),
        _money("interest_paid"),
        _money("penalty_charged"),
        _money("penalty_paid"),
        sa.Column("penalty_charged_on", sa.Date(), nullable=True),
        _at("paid_at", nullable=True),
        sa.UniqueConstraint("loan_id", "number", name="uq_loan_installments_loan_id_number"),
    )
    op.create_index("ix_loan_installments_due_date", "loan_installments", ["due_date"])
    op.create_table(
        "loan_transitions",
        *_id("loan_transitions"),
        *_ref("loan_transitions", "loan_id", "loans"),
        _string("from_status", 16),
        _string("to_status", 16),
        _string("actor", 80),
        _string("reason", 300),
        _at("at"),
    )
    op.create_index("ix_loan_transitions_loan_id", "loan_transitions", ["loan_id"])
    op.create_table(
        "loan_fundings",
        *_id("loan_fundings"),
        *_ref("loan_fundings", "loan_id", "loans"),
        *_ref("loan_fundings", "lender_id", "members"),
        _int("shares"),
        _money("amount"),
        _string("key", 120),
        _money("principal_repaid"),
        _money("interest_earned"),
        _money("principal_lost"),
        _money("recovered"),
        _at("created_at"),
        _at("refunded_at", nullable=True),
        sa.UniqueConstraint("key", name="uq_loan_fundings_key"),
    )
    op.create_index("ix_loan_fundings_loan_id", "loan_fundings", ["loan_id"])
    op.create_index("ix_loan_fundings_lender_id", "loan_fundings", ["lender_id"])
    op.create_table(
        "repayments",
        *_id("repayments"),
        *_ref("repayments", "loan_id", "loans"),
        *_ref("repayments", "member_id", "members"),
        _string("kind", 10),
        _money("amount"),
        _string("key", 120),
        _string("source", 10),
        _string("receipt", 64, nullable=True),
        _money("penalty"),
        _money("fees"),
        _money("interest"),
        _money("principal"),
        _money("overpayment"),
        _money("platform_interest"),
        _money("balance_after"),
        sa.Column("detail", sa.JSON(), nullable=False),
        *_ref("repayments", "journal_entry_id", "journal_entries", nullable=True),
        _at("received_at"),
        _at("created_at"),
        sa.UniqueConstraint("key", name="uq_repayments_key"),
    )
    op.create_index("ix_repayments_loan_id", "repayments", ["loan_id"])
    op.create_index("ix_repayments_member_id", "repayments", ["member_id"])
    op.create_table(
        "limit_changes",
        *_id("limit_changes"),
        *_ref("limit_changes", "member_id", "members"),
        _money("old"),
        _money("new"),
        _string("reason", 120),
        *_ref("limit_changes", "loan_id", "loans", nullable=True),
        _at("at"),
    )
    op.create_index("ix_limit_changes_member_id", "limit_changes", ["member_id"])
    op.create_table(
        "tickets",
        *_id("tickets"),
        *_ref("tickets", "member_id", "members"),
        _string("kind", 12),
        sa.Column("text", sa.Text(), nullable=False),
        _string("status", 12),
        _at("created_at"),
    )
    op.create_index("ix_tickets_member_id", "tickets", ["member_id"])
    op.create_table(
        "loan_reschedules",
        *_id("loan_reschedules"),
        *_ref("loan_reschedules", "loan_id", "loans"),
        _string("reason", 300),
        sa.Column("old_schedule", sa.JSON(), nullable=False),
        sa.Column("new_schedule", sa.JSON(), nullable=False),
        _string("actor", 80),
        _at("at"),
    )
    op.create_index("ix_loan_reschedules_loan_id", "loan_reschedules", ["loan_id"])


TABLES = (
    "loan_reschedules", "tickets", "limit_changes", "repayments", "loan_fundings",
    "loan_transitions", "loan_installments", "loans", "members", "loan_products",
    "field_partners",
)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)  # dropping a table drops its indexes with it
