"""Savings tables: products, accounts (personal and goals), transfers, chamas and their rounds.

Balances are not stored here: the ledger holds them (`savings.chart`). These
tables say what an account is, and which payment intent moved money for what.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base, BigId, MinorUnits, Timestamp, intpk

PERSONAL, GOAL = "personal", "goal"
ACCOUNT_KINDS = (PERSONAL, GOAL)
OPEN, CLOSED = "open", "closed"

DEPOSIT, WITHDRAWAL, CONTRIBUTION, PAYOUT = "deposit", "withdrawal", "contribution", "payout"
TRANSFER_KINDS = (DEPOSIT, WITHDRAWAL, CONTRIBUTION, PAYOUT)

WEEKLY, MONTHLY = "weekly", "monthly"
CHAMA_FREQUENCIES = (WEEKLY, MONTHLY)
PAYING, PAID, FAILED = "paying", "paid", "failed"


class SavingsProduct(Base):
    """The terms savings accounts earn interest on; the rate is annual, in basis points."""

    __tablename__ = "savings_products"
    __table_args__ = (CheckConstraint("annual_rate_bp >= 0 AND annual_rate_bp <= 5000",
                                      name="annual_rate_bp"),)

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    currency: Mapped[str] = mapped_column(String(3), default="KES")
    annual_rate_bp: Mapped[int]  # 600 = 6.00% a year, actual/365, credited monthly
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class SavingsAccount(Base):
    """A member's savings: one personal "Akiba" account, and any number of goals."""

    __tablename__ = "savings_accounts"
    __table_args__ = (
        UniqueConstraint("member_id", "label"),
        CheckConstraint("kind IN ('personal', 'goal')", name="kind"),
        CheckConstraint("target IS NULL OR target > 0", name="target"),
    )

    id: Mapped[intpk]
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("savings_products.id"))
    kind: Mapped[str] = mapped_column(String(10))
    # "akiba" for the personal account; the goal's name, lower-cased, for a goal.
    label: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(40))
    target: Mapped[int | None] = mapped_column(BigInteger)
    lock_until: Mapped[date | None]
    currency: Mapped[str] = mapped_column(String(3), default="KES")
    status: Mapped[str] = mapped_column(String(10), default=OPEN)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class SavingsTransfer(Base):
    """Which payment intent moves money for which savings account or chama (and round)."""

    __tablename__ = "savings_transfers"
    __table_args__ = (
        CheckConstraint("(account_id IS NULL) <> (chama_id IS NULL)", name="one_target"),
        Index("ix_savings_transfers_member_created", "member_id", "created_at"),
    )

    id: Mapped[intpk]
    intent_id: Mapped[int] = mapped_column(BigId, ForeignKey("payment_intents.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(12))  # TRANSFER_KINDS
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("savings_accounts.id"), index=True)
    chama_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("chamas.id"), index=True)
    # A contribution's round is known only when it is paid (the round open at that moment).
    round: Mapped[int | None]
    amount: Mapped[MinorUnits]
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class Chama(Base):
    """A savings group: fixed contributions on a schedule, the pot paid out in rotation."""

    __tablename__ = "chamas"
    __table_args__ = (
        CheckConstraint("contribution > 0", name="contribution"),
        CheckConstraint("frequency IN ('weekly', 'monthly')", name="frequency"),
        CheckConstraint("payouts_per_round >= 1", name="payouts_per_round"),
        CheckConstraint("current_round >= 1", name="current_round"),
    )

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3), default="KES")
    contribution: Mapped[MinorUnits]  # what each member pays each round
    frequency: Mapped[str] = mapped_column(String(10))
    start_date: Mapped[date]  # round 1 runs from here for one period
    payouts_per_round: Mapped[int] = mapped_column(default=1)
    current_round: Mapped[int] = mapped_column(default=1)  # the round contributions count for
    field_partner_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("field_partners.id"))
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class ChamaMember(Base):
    """A member of a chama and their place in the payout rotation (1 = paid first)."""

    __tablename__ = "chama_members"
    __table_args__ = (UniqueConstraint("chama_id", "member_id"),
                      UniqueConstraint("chama_id", "position"))

    id: Mapped[intpk]
    chama_id: Mapped[int] = mapped_column(BigId, ForeignKey("chamas.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    position: Mapped[int]
    joined_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class ChamaPayout(Base):
    """One recipient's share of one round's pot, and the B2C payout carrying it."""

    __tablename__ = "chama_payouts"
    __table_args__ = (UniqueConstraint("chama_id", "round", "member_id"),)

    id: Mapped[intpk]
    chama_id: Mapped[int] = mapped_column(BigId, ForeignKey("chamas.id"), index=True)
    round: Mapped[int]
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    amount: Mapped[MinorUnits]
    status: Mapped[str] = mapped_column(String(10), default=PAYING)
    attempts: Mapped[int] = mapped_column(default=1)
    intent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("payment_intents.id"))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]
