"""Impact tables: surveys, invitations (who was asked, when, why), responses, opt-outs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base, BigId, MinorUnits, Timestamp, intpk

BASELINE, FOLLOWUP = "baseline", "followup"
OFFERED, POSTPONED, ANSWERED, DECLINED = "offered", "postponed", "answered", "declined"
OPEN_INVITATIONS = (OFFERED, POSTPONED)


class Survey(Base):
    """A survey definition (impact.definition JSON); one is active at a time."""

    __tablename__ = "impact_surveys"

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class SurveyInvitation(Base):
    """One time a member was asked: baseline or a follow-up at a loan milestone.

    `key` is unique (`s<survey>:m<member>:baseline` or `…:<milestone>:<loan>`), so the
    same invitation is never made twice, even by two sessions at once.
    """

    __tablename__ = "impact_invitations"
    __table_args__ = (Index("ix_impact_invitations_member_offered", "member_id", "offered_at"),)

    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(String(80), unique=True)
    survey_id: Mapped[int] = mapped_column(BigId, ForeignKey("impact_surveys.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(10))
    milestone: Mapped[str | None] = mapped_column(String(16))
    loan_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("loans.id"))
    status: Mapped[str] = mapped_column(String(10), default=OFFERED)
    offered_at: Mapped[Timestamp]
    consented_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class SurveyResponse(Base):
    """A completed survey: the answers (question id -> option number) and scores per dimension."""

    __tablename__ = "impact_responses"

    id: Mapped[intpk]
    invitation_id: Mapped[int] = mapped_column(BigId, ForeignKey("impact_invitations.id"),
                                               unique=True)
    survey_id: Mapped[int] = mapped_column(BigId, ForeignKey("impact_surveys.id"), index=True)
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    answers: Mapped[dict[str, int]] = mapped_column(JSON)
    scores: Mapped[dict[str, str | None]] = mapped_column(JSON)
    completed_at: Mapped[Timestamp]


class SurveyOptOut(Base):
    """A member who asked never to be surveyed; deleting the row opts back in."""

    __tablename__ = "impact_optouts"

    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), primary_key=True)
    opted_out_at: Mapped[Timestamp]


class OperatingExpense(Base):
    """An operating expense booked in the ledger (see impact.expenses)."""

    __tablename__ = "operating_expenses"

    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(String(120), unique=True)
    category: Mapped[str] = mapped_column(String(32))
    amount: Mapped[MinorUnits]
    description: Mapped[str] = mapped_column(String(200))
    incurred_on: Mapped[datetime]
    journal_entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("journal_entries.id"))
    created_by: Mapped[str] = mapped_column(String(80))
