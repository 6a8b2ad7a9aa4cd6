"""Messaging tables: outbound SMS, inbound SMS, opt-outs and raw delivery reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigId, intpk

CATEGORIES = ("transactional", "legal", "reminder", "marketing")

QUEUED, SENT, SUBMITTED, BUFFERED = "queued", "sent", "submitted", "buffered"
SUCCESS, FAILED, REJECTED, SUPPRESSED = "success", "failed", "rejected", "suppressed"
STATUSES = (QUEUED, SENT, SUBMITTED, BUFFERED, SUCCESS, FAILED, REJECTED, SUPPRESSED)
FINAL_STATUSES = frozenset({SUCCESS, FAILED, REJECTED, SUPPRESSED})


class SmsMessage(Base):
    """One outbound SMS, from the moment it is queued until its last delivery report."""

    __tablename__ = "sms_messages"
    __table_args__ = (Index("ix_sms_messages_to_phone_created", "to_phone", "created_at"),)

    id: Mapped[intpk]
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    to_phone: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5))
    template: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12), default=QUEUED)
    provider_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    cost: Mapped[str | None] = mapped_column(String(32))
    cost_minor: Mapped[int | None] = mapped_column(BigInteger)
    segments: Mapped[int] = mapped_column(default=1)
    tip: Mapped[str | None] = mapped_column(String(16))  # the education tip appended, if any
    failure_reason: Mapped[str | None] = mapped_column(String(80))
    retry_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class InboundSms(Base):
    """An SMS a phone sent to our short code, stored before it is processed."""

    __tablename__ = "sms_inbound"

    id: Mapped[intpk]
    provider_id: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(20))
    to_code: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    link_id: Mapped[str | None] = mapped_column(String(64))
    network_code: Mapped[str | None] = mapped_column(String(10))
    provider_date: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20))
    reply_message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("sms_messages.id", ondelete="SET NULL")
    )


class SmsOptOut(Base):
    """A phone that asked for no more messages (AT's opt-out or our STOP keyword)."""

    __tablename__ = "sms_opt_outs"

    id: Mapped[intpk]
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    opted_out_at: Mapped[datetime]
    opted_back_in_at: Mapped[datetime | None]

    @property
    def active(self) -> bool:
        return self.opted_back_in_at is None


class SmsDeliveryReport(Base):
    """A delivery report exactly as the provider sent it; one row per (message, status)."""

    __tablename__ = "sms_delivery_reports"
    __table_args__ = (UniqueConstraint("provider_message_id", "status"),)

    id: Mapped[intpk]
    provider_message_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(20))
    network_code: Mapped[str | None] = mapped_column(String(10))
    failure_reason: Mapped[str | None] = mapped_column(String(80))
    retry_count: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime]
    matched: Mapped[bool] = mapped_column(default=False)
