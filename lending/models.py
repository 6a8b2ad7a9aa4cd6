"""Lending tables: members, field partners, products, loans, schedules, funding, repayments.

Money is integer minor units (`MinorUnits`); rates and percentages are decimal
strings so that SQLite never sees a Numeric column and no float touches a price.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.db import Base, BigId, MinorUnits, Timestamp, intpk
from ledger import JournalEntry
from lending.products import ProductTerms

# Loan statuses; the legal moves between them live in lending.lifecycle.
PENDING_REVIEW, APPROVED, REJECTED = "pending_review", "approved", "rejected"
CANCELLED, FUNDRAISING, FUNDED = "cancelled", "fundraising", "funded"
EXPIRED, DISBURSING, ACTIVE = "expired", "disbursing", "active"
REPAID, DEFAULTED = "repaid", "defaulted"
WRITTEN_OFF, RECOVERED = "written_off", "recovered"
LOAN_STATUSES = (
    PENDING_REVIEW, APPROVED, REJECTED, CANCELLED, FUNDRAISING, FUNDED, EXPIRED, DISBURSING,
    ACTIVE, REPAID, DEFAULTED, WRITTEN_OFF, RECOVERED,
)
OPEN_STATUSES = (PENDING_REVIEW, APPROVED, FUNDRAISING, FUNDED, DISBURSING, ACTIVE, DEFAULTED)
"""A loan in one of these counts against the member's active loans and credit limit."""
REPAYABLE_STATUSES = (ACTIVE, DEFAULTED)

# How a lender hears of repayments (Member.repayment_sms).
DIGEST, EACH = "digest", "each"
REPAYMENT_SMS_CHOICES = (DIGEST, EACH)

# Member statuses.
PENDING_VERIFICATION, MEMBER_ACTIVE, SUSPENDED = "pending_verification", "active", "suspended"
MEMBER_REJECTED = "rejected"
"""A registration a field partner or operator could not confirm; it can be verified later."""

ForeignId = BigId  # foreign keys share the primary keys' type on every dialect


class FieldPartner(Base):
    """An organisation that vets borrowers in a region."""

    __tablename__ = "field_partners"
    __table_args__ = (CheckConstraint("risk_rating BETWEEN 1 AND 5", name="risk_rating"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(60))
    risk_rating: Mapped[int] = mapped_column(default=3)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class Member(Base):
    """A person on the platform: a borrower, a lender, or both."""

    __tablename__ = "members"
    __table_args__ = (
        CheckConstraint("gender IS NULL OR gender IN ('f', 'm', 'x')", name="gender"),
        CheckConstraint("language IN ('en', 'sw')", name="language"),
        CheckConstraint("credit_limit >= 0", name="credit_limit"),
    )

    id: Mapped[intpk]
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    first_name: Mapped[str] = mapped_column(String(60))
    last_name: Mapped[str | None] = mapped_column(String(60))
    national_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    gender: Mapped[str | None] = mapped_column(String(1))
    region: Mapped[str | None] = mapped_column(String(60))
    place: Mapped[str | None] = mapped_column(String(80))
    sector: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(2), default="en")
    status: Mapped[str] = mapped_column(String(24), default=PENDING_VERIFICATION)
    is_borrower: Mapped[bool] = mapped_column(default=True)
    is_lender: Mapped[bool] = mapped_column(default=False)
    pin_hash: Mapped[str] = mapped_column(String(200))
    failed_pin_attempts: Mapped[int] = mapped_column(default=0)
    pin_locked_until: Mapped[datetime | None]
    # Locks in a row without a right PIN: 1 = 30 minutes, 2 = 24 hours, 3 = until unlocked.
    pin_lock_level: Mapped[int] = mapped_column(default=0)
    consent_at: Mapped[datetime | None]
    reminders_enabled: Mapped[bool] = mapped_column(default=True)
    # How a lender hears of repayments: one daily digest, or an SMS for each (opt-in).
    repayment_sms: Mapped[str] = mapped_column(String(10), default="digest")
    credit_limit: Mapped[MinorUnits] = mapped_column(default=0)
    field_partner_id: Mapped[int | None] = mapped_column(
        ForeignId, ForeignKey("field_partners.id"), index=True
    )
    verified_at: Mapped[datetime | None]
    verified_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class Product(Base):
    """A loan product: the persisted form of `ProductTerms`, plus platform settings."""

    __tablename__ = "loan_products"

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    currency: Mapped[str] = mapped_column(String(3), default="KES")
    min_amount: Mapped[MinorUnits]
    max_amount: Mapped[MinorUnits]
    terms: Mapped[list[int]] = mapped_column(JSON)
    frequency: Mapped[str] = mapped_column(String(12))
    interest_method: Mapped[str] = mapped_column(String(10))
    interest_rate: Mapped[str] = mapped_column(String(16))
    upfront_fee_percent: Mapped[str] = mapped_column(String(16), default="0")
    upfront_fee_flat: Mapped[MinorUnits] = mapped_column(default=0)
    grace_periods: Mapped[int] = mapped_column(default=0)
    penalty_kind: Mapped[str] = mapped_column(String(10), default="none")
    penalty_percent: Mapped[str] = mapped_column(String(16), default="0")
    penalty_cap_percent: Mapped[str] = mapped_column(String(16), default="0")
    funding_window_days: Mapped[int] = mapped_column(default=14)
    funding_mode: Mapped[str] = mapped_column(String(16), default="all_or_nothing")
    share_unit: Mapped[MinorUnits] = mapped_column(default=10_000)
    max_active_loans: Mapped[int] = mapped_column(default=1)
    overpayment: Mapped[str] = mapped_column(String(10), default="credit")
    platform_interest_share_percent: Mapped[str] = mapped_column(String(16), default="20")
    reminder_offsets: Mapped[list[int]] = mapped_column(JSON, default=lambda: [-3, 0, 1, 7])
    credit_life_premium_percent: Mapped[str] = mapped_column(String(16), default="0")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    def to_terms(self) -> ProductTerms:
        """The calculation terms that schedules and quotes are built from."""
        return ProductTerms(
            code=self.code, name=self.name, currency=self.currency,
            min_amount=self.min_amount, max_amount=self.max_amount,
            terms=tuple(self.terms), frequency=self.frequency,
            interest_method=self.interest_method, interest_rate=Decimal(self.interest_rate),
            upfront_fee_percent=Decimal(self.upfront_fee_percent),
            upfront_fee_flat=self.upfront_fee_flat, grace_periods=self.grace_periods,
            penalty_kind=self.penalty_kind, penalty_percent=Decimal(self.penalty_percent),
            penalty_cap_percent=Decimal(self.penalty_cap_percent),
            funding_window_days=self.funding_window_days, funding_mode=self.funding_mode,
            share_unit=self.share_unit, max_active_loans=self.max_active_loans,
            overpayment=self.overpayment,
            credit_life_premium_percent=Decimal(self.credit_life_premium_percent),
        )

    @property
    def platform_share(self) -> Decimal:
        """The platform's percentage of collected interest."""
        return Decimal(self.platform_interest_share_percent)

    @classmethod
    def from_terms(cls, terms: ProductTerms, **extra: Any) -> Product:
        """A product row from validated terms; decimals are stored as their strings."""
        values = terms.to_json()
        values["terms"] = list(terms.terms)
        return cls(**values, **extra)


class Loan(Base):
    """A loan from application to closure; `status` moves only through lending.lifecycle."""

    __tablename__ = "loans"
    __table_args__ = (
        Index("ix_loans_borrower_status", "borrower_id", "status"),
        Index("ix_loans_status_deadline", "status", "fundraising_deadline"),
        CheckConstraint("funded_amount >= 0 AND funded_amount <= amount", name="funded_amount"),
    )

    id: Mapped[intpk]
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    borrower_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("members.id"))
    product_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("loan_products.id"))
    field_partner_id: Mapped[int | None] = mapped_column(
        ForeignId, ForeignKey("field_partners.id"), index=True
    )
    amount: Mapped[MinorUnits]
    term: Mapped[int]
    purpose: Mapped[str] = mapped_column(String(160))
    sector: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=PENDING_REVIEW)
    currency: Mapped[str] = mapped_column(String(3), default="KES")
    upfront_fee: Mapped[MinorUnits] = mapped_column(default=0)
    net_disbursed: Mapped[MinorUnits]
    # Deducted from the payout beside the fee and paid into the insurance pool (0: no cover).
    credit_life_premium: Mapped[MinorUnits] = mapped_column(default=0)
    total_repayable: Mapped[MinorUnits]
    apr: Mapped[str] = mapped_column(String(24))
    funded_amount: Mapped[MinorUnits] = mapped_column(default=0)
    start_date: Mapped[date | None] = mapped_column(Date)
    fundraising_deadline: Mapped[datetime | None]
    disbursed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    application_key: Mapped[str] = mapped_column(String(120), unique=True)
    nonperforming_since: Mapped[date | None] = mapped_column(Date)
    in_duplum_cap: Mapped[int | None] = mapped_column(BigInteger)
    in_duplum_charged: Mapped[MinorUnits] = mapped_column(default=0)
    payout_attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    borrower: Mapped[Member] = relationship(lazy="joined", innerjoin=True)
    product: Mapped[Product] = relationship(lazy="joined", innerjoin=True)
    installments: Mapped[list[LoanInstallment]] = relationship(
        order_by="LoanInstallment.number", lazy="selectin", cascade="all, delete-orphan",
        back_populates="loan",
    )
    fundings: Mapped[list[LoanFunding]] = relationship(
        order_by="LoanFunding.id", lazy="selectin", back_populates="loan"
    )


class LoanInstallment(Base):
    """One scheduled installment and what has been paid and charged against it."""

    __tablename__ = "loan_installments"
    __table_args__ = (UniqueConstraint("loan_id", "number"),)

    id: Mapped[intpk]
    loan_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("loans.id"))
    number: Mapped[int]
    due_date: Mapped[date] = mapped_column(Date, index=True)
    principal: Mapped[MinorUnits]
    interest: Mapped[MinorUnits]
    principal_paid: Mapped[MinorUnits] = mapped_column(default=0)
    interest_paid: Mapped[MinorUnits] = mapped_column(default=0)
    penalty_charged: Mapped[MinorUnits] = mapped_column(default=0)
    penalty_paid: Mapped[MinorUnits] = mapped_column(default=0)
    penalty_charged_on: Mapped[date | None] = mapped_column(Date)
    paid_at: Mapped[datetime | None]

    loan: Mapped[Loan] = relationship(back_populates="installments")

    @property
    def amount(self) -> int:
        """Principal plus interest as scheduled (the penalty cap's base)."""
        return self.principal + self.interest

    @property
    def principal_due(self) -> int:
        return self.principal - self.principal_paid

    @property
    def interest_due(self) -> int:
        return self.interest - self.interest_paid

    @property
    def penalty_due(self) -> int:
        return self.penalty_charged - self.penalty_paid

    @property
    def scheduled_due(self) -> int:
        """Unpaid principal and interest: what makes an installment late."""
        return self.principal_due + self.interest_due

    @property
    def outstanding(self) -> int:
        return self.scheduled_due + self.penalty_due


class LoanTransition(Base):
    """One recorded move of a loan's status: who, when and why."""

    __tablename__ = "loan_transitions"

    id: Mapped[intpk]
    loan_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("loans.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[Timestamp] = mapped_column(default=utcnow)


class LoanFunding(Base):
    """A lender's stake in a loan, and what it has earned, recovered or lost since."""

    __tablename__ = "loan_fundings"

    id: Mapped[intpk]
    loan_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("loans.id"), index=True)
    lender_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("members.id"), index=True)
    shares: Mapped[int]
    amount: Mapped[MinorUnits]
    key: Mapped[str] = mapped_column(String(120), unique=True)
    principal_repaid: Mapped[MinorUnits] = mapped_column(default=0)
    interest_earned: Mapped[MinorUnits] = mapped_column(default=0)
    principal_lost: Mapped[MinorUnits] = mapped_column(default=0)
    recovered: Mapped[MinorUnits] = mapped_column(default=0)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    refunded_at: Mapped[datetime | None]

    loan: Mapped[Loan] = relationship(back_populates="fundings")

    @property
    def principal_outstanding(self) -> int:
        """Principal still owed to this stake (0 once refunded or written off)."""
        if self.refunded_at is not None:
            return 0
        return self.amount - self.principal_repaid - self.principal_lost


class Repayment(Base):
    """Money received against a loan (a repayment or, after write-off, a recovery)."""

    __tablename__ = "repayments"

    id: Mapped[intpk]
    loan_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("loans.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="repayment")
    amount: Mapped[MinorUnits]
    key: Mapped[str] = mapped_column(String(120), unique=True)
    source: Mapped[str] = mapped_column(String(10))
    receipt: Mapped[str | None] = mapped_column(String(64))
    penalty: Mapped[MinorUnits] = mapped_column(default=0)
    fees: Mapped[MinorUnits] = mapped_column(default=0)
    interest: Mapped[MinorUnits] = mapped_column(default=0)
    principal: Mapped[MinorUnits] = mapped_column(default=0)
    overpayment: Mapped[MinorUnits] = mapped_column(default=0)
    platform_interest: Mapped[MinorUnits] = mapped_column(default=0)
    balance_after: Mapped[MinorUnits] = mapped_column(default=0)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    journal_entry_id: Mapped[int | None] = mapped_column(
        ForeignId, ForeignKey("journal_entries.id")
    )
    received_at: Mapped[Timestamp]
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    journal_entry: Mapped[JournalEntry | None] = relationship()


class LenderCredit(Base):
    """One lender's share of one repayment, and the wallet balance that repayment left.

    Written with the repayment; the lender's SMS (one per repayment, or the daily
    digest) is rendered from these rows, so each line shows its own balance.
    """

    __tablename__ = "lender_credits"
    __table_args__ = (
        UniqueConstraint("repayment_id", "lender_id"),
        Index("ix_lender_credits_unsent", "notified_at", "received_at"),
    )

    id: Mapped[intpk]
    repayment_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("repayments.id"))
    lender_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("members.id"), index=True)
    loan_reference: Mapped[str] = mapped_column(String(12))
    amount: Mapped[MinorUnits]
    balance_after: Mapped[MinorUnits]
    currency: Mapped[str] = mapped_column(String(3))
    received_at: Mapped[Timestamp]
    notified_at: Mapped[datetime | None]


class LimitChange(Base):
    """A change of a member's credit limit and the rule that made it."""

    __tablename__ = "limit_changes"

    id: Mapped[intpk]
    member_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("members.id"), index=True)
    old: Mapped[MinorUnits]
    new: Mapped[MinorUnits]
    reason: Mapped[str] = mapped_column(String(120))
    loan_id: Mapped[int | None] = mapped_column(ForeignId, ForeignKey("loans.id"))
    at: Mapped[Timestamp] = mapped_column(default=utcnow)


class Ticket(Base):
    """A complaint or a hardship request from a member, for an operator to handle."""

    __tablename__ = "tickets"

    id: Mapped[intpk]
    member_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class Reschedule(Base):
    """A hardship rescheduling: the schedule before and after, who did it and why."""

    __tablename__ = "loan_reschedules"

    id: Mapped[intpk]
    loan_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("loans.id"), index=True)
    reason: Mapped[str] = mapped_column(String(300))
    old_schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    new_schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[Timestamp] = mapped_column(default=utcnow)
