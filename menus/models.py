"""What the telco tells us about ended USSD sessions, kept for drop-off analysis."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Timestamp, intpk


class UssdEvent(Base):
    """One end-of-session notification; the telco may resend it, so one row per session."""

    __tablename__ = "ussd_events"
    __table_args__ = (Index("ix_ussd_events_screen_status", "last_screen", "status"),)

    id: Mapped[intpk]
    session_id: Mapped[str] = mapped_column(String(128), unique=True)
    phone: Mapped[str] = mapped_column(String(20))  # E.164: operators call back; never logged
    service_code: Mapped[str] = mapped_column(String(40), default="")
    network_code: Mapped[str] = mapped_column(String(20), default="")
    status: Mapped[str] = mapped_column(String(20))
    last_screen: Mapped[str] = mapped_column(String(60))  # our node id, e.g. "apply.amount"
    input: Mapped[str] = mapped_column(Text, default="")
    last_response: Mapped[str] = mapped_column(Text, default="")
    hops: Mapped[int | None]
    duration_ms: Mapped[int | None]
    cost: Mapped[str] = mapped_column(String(40), default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime | None]
    received_at: Mapped[Timestamp]
