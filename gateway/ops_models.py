"""Who may act: operators of the console, API keys for scripts and apps, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base, JSONDict, Timestamp, intpk

OPERATOR_ROLES = ("viewer", "reconciler", "approver", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(OPERATOR_ROLES)}
"""Roles are cumulative: a reconciler may do what a viewer may, and more."""
API_ROLES = ("operator", "field_partner", "lender")


class Operator(Base):
    """A person who works the console; operator API keys act for one of them."""

    __tablename__ = "operators"

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    field_partner_id: Mapped[int | None] = mapped_column(BigInteger)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    def may(self, role: str) -> bool:
        """Whether this operator's role is at least `role`."""
        return self.active and ROLE_RANK[self.role] >= ROLE_RANK[role]


class ApiKey(Base):
    """A bearer key; `owner_id` is the operator (operator keys), member or field partner."""

    __tablename__ = "api_keys"

    id: Mapped[intpk]
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    id: Mapped[intpk]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[JSONDict] = mapped_column(default=dict)
    after: Mapped[JSONDict] = mapped_column(default=dict)
    at: Mapped[Timestamp] = mapped_column(default=utcnow)


def audit(session: Any, *, actor: str, action: str, subject_type: str, subject_id: object,
          reason: str = "", before: dict[str, Any] | None = None,
          after: dict[str, Any] | None = None) -> AuditEntry:
    """Record who did what to which thing, why, and the state before and after."""
    entry = AuditEntry(
        actor=actor, action=action, subject_type=subject_type, subject_id=str(subject_id),
        reason=reason, before=before or {}, after=after or {}, at=utcnow(),
    )
    session.add(entry)
    return entry
