"""Education tables: a member's attempts at a lesson's check, and its completion."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigId, Timestamp, intpk


class LessonProgress(Base):
    """One member's progress on one lesson: attempts at the check and when she passed it."""

    __tablename__ = "lesson_progress"
    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(String(40), unique=True)  # "<member id>:<lesson>"
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    lesson: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    first_seen_at: Mapped[Timestamp]
    completed_at: Mapped[datetime | None]
