"""Operator accounts: passwords with lockout, and the actor an operator is in the audit trail.

The console's login (`gateway.ops.console_login`) checks these passwords; an operator's
API keys (`gateway.api_keys`) act for the same person.
"""

from __future__ import annotations

from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from gateway.ops_models import OPERATOR_ROLES, Operator
from reconciliation.resolutions import Actor

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
_hasher = PasswordHasher()


class LoginRefused(Exception):
    """Wrong email or password, or the account is locked."""


def operator_actor(operator: Operator) -> Actor:
    """An operator as an actor, the same whether they use the console or an API key."""
    return Actor(f"operator:{operator.id}", operator.email)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_operator(session: Session, *, email: str, password: str, role: str,
                    name: str = "", field_partner_id: int | None = None) -> Operator:
    if role not in OPERATOR_ROLES:
        raise ValueError(f"role must be one of {', '.join(OPERATOR_ROLES)}")
    if len(password) < 10:
        raise ValueError("passwords need at least 10 characters")
    operator = Operator(
        email=email.strip().lower(), name=name, password_hash=hash_password(password),
        role=role, field_partner_id=field_partner_id, failed_logins=0, active=True,
        created_at=utcnow(),
    )
    session.add(operator)
    session.flush()
    return operator


def check_login(session: Session, email: str, password: str) -> Operator:
    """The operator for these credentials; counts failures and locks after five."""
    operator = session.scalar(select(Operator).where(Operator.email == email.strip().lower()))
    if operator is None or not operator.active:
        _hasher.hash(password)  # spend the same time as a real check: no user enumeration
        raise LoginRefused("wrong email or password")
    now = utcnow()
    if operator.locked_until is not None and operator.locked_until > now:
        raise LoginRefused("too many failed attempts; try again later")
    try:
        _hasher.verify(operator.password_hash, password)
    except (VerificationError, InvalidHashError):
        operator.failed_logins += 1
        if operator.failed_logins >= MAX_FAILED_LOGINS:
            operator.locked_until, operator.failed_logins = now + LOCKOUT, 0
        raise LoginRefused("wrong email or password") from None
    operator.failed_logins, operator.locked_until, operator.last_login_at = 0, None, now
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = hash_password(password)
    return operator
