"""Insurance tables: policies (credit-life and hospital cash) and claims."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.db import Base, BigId, MinorUnits, Timestamp, intpk

CREDIT_LIFE, HOSPITAL_CASH = "credit_life", "hospital_cash"
POLICY_KINDS = (CREDIT_LIFE, HOSPITAL_CASH)

# Policy statuses. A hospital-cash policy waits for its premium, then is in force
# from starts_on to ends_on; "unpaid" when the M-Pesa prompt failed. A credit-life
# policy is active from payout until the loan closes or a claim settles it.
PENDING_PAYMENT, ACTIVE, UNPAID, SETTLED = "pending_payment", "active", "unpaid", "settled"
POLICY_STATUSES = (PENDING_PAYMENT, ACTIVE, UNPAID, SETTLED)
ENDED = "ended"
"""Shown, never stored: an active policy whose loan closed or whose period is over."""

DEATH, DISABILITY, HOSPITAL = "death", "disability", "hospital"
CAUSES = {CREDIT_LIFE: (DEATH, DISABILITY), HOSPITAL_CASH: (HOSPITAL,)}

# Claim statuses: filed -> rejected | paid, or, for a B2C benefit, filed -> paying -> paid
# (a failed payout goes back to approved, for an operator to retry).
FILED, REJECTED, APPROVED, PAYING, PAID = "filed", "rejected", "approved", "paying", "paid"
CLAIM_STATUSES = (FILED, REJECTED, APPROVED, PAYING, PAID)
OPEN_CLAIM_STATUSES = (FILED, APPROVED, PAYING)

ForeignId = BigId


class Policy(Base):
    """One cover held by one member: credit-life on a loan, or a period of hospital cash."""

    __tablename__ = "insurance_policies"
    __table_args__ = (
        CheckConstraint(f"kind IN {POLICY_KINDS!r}", name="kind"),
        CheckConstraint("premium >= 0", name="premium"),
        Index("ix_insurance_policies_member_kind", "member_id", "kind"),
    )

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("members.id"))
    loan_id: Mapped[int | None] = mapped_column(ForeignId, ForeignKey("loans.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    premium: Mapped[MinorUnits]
    currency: Mapped[str] = mapped_column(String(3), default="KES")
    nightly_benefit: Mapped[MinorUnits] = mapped_column(default=0)
    max_nights: Mapped[int] = mapped_column(default=0)
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    intent_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    def in_force_on(self, day: date) -> bool:
        """Whether the cover applies to an event on `day` (credit-life: while active)."""
        if self.status != ACTIVE:
            return False
        if self.starts_on is not None and day < self.starts_on:
            return False
        return self.ends_on is None or day <= self.ends_on


class Claim(Base):
    """A claim on a policy, filed by one person and decided by another."""

    __tablename__ = "insurance_claims"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("nights >= 0", name="nights"),
        Index("ix_insurance_claims_status", "status", "created_at"),
    )

    id: Mapped[intpk]
    policy_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("insurance_policies.id"),
                                           index=True)
    member_id: Mapped[int] = mapped_column(ForeignId, ForeignKey("members.id"), index=True)
    cause: Mapped[str] = mapped_column(String(12))
    event_date: Mapped[date] = mapped_column(Date)
    nights: Mapped[int] = mapped_column(default=0)
    # Hospital cash: the benefit, fixed at filing. Credit-life: the balance settled, at payment.
    amount: Mapped[MinorUnits] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(12), default=FILED)
    filed_by: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str] = mapped_column(String(12))
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(String(300), default="")
    payout_attempts: Mapped[int] = mapped_column(default=0)
    payout_intent_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    paid_at: Mapped[datetime | None]
    key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    policy: Mapped[Policy] = relationship(lazy="joined", innerjoin=True)
