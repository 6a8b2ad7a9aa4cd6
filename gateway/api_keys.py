"""Who calls the JSON API: bearer API keys with a role and an owner (`require_api_key`)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from gateway.database import get_session
from gateway.errors import json_error
from gateway.operators import operator_actor
from gateway.ops_models import API_ROLES, ApiKey, Operator
from reconciliation.resolutions import Actor

F = TypeVar("F", bound=Callable[..., Any])
KEY_PREFIX = "mk_"


class KeyRefused(Exception):
    """The bearer token is malformed, unknown or revoked."""


@dataclass(frozen=True)
class Caller:
    """Who is calling the API: a role, and the operator, member or partner the key belongs to."""

    key_id: int
    role: str
    owner_id: int | None

    @property
    def operator_id(self) -> int | None:
        """The person an operator key acts for (None for other keys)."""
        return self.owner_id if self.role == "operator" else None


def _digest(secret: str) -> str:
    # API keys carry 256 bits of randomness; a fast hash is enough and keeps lookups cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Session, *, role: str, owner_id: int | None = None,
                   name: str = "") -> tuple[ApiKey, str]:
    """Make a key; the token is returned once and never stored.

    An operator key belongs to a named operator (`owner_id`): what it does is
    done by that person, so maker-checker compares people, not keys.
    """
    if role not in API_ROLES:
        raise ValueError(f"role must be one of {', '.join(API_ROLES)}")
    if owner_id is None:
        raise ValueError(f"a {role} key needs an owner"
                         + (" (the operator it acts for)" if role == "operator" else ""))
    if role == "operator":
        operator = session.get(Operator, owner_id)
        if operator is None or not operator.active:
            raise ValueError(f"no active operator {owner_id}")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(prefix=prefix, secret_hash=_digest(secret), role=role, owner_id=owner_id,
                 name=name, created_at=utcnow())
    session.add(key)
    session.flush()
    return key, f"{KEY_PREFIX}{prefix}.{secret}"


def authenticate_token(session: Session, token: str) -> Caller:
    """The caller behind a bearer token, or KeyRefused."""
    body = token.removeprefix(KEY_PREFIX)
    prefix, _, secret = body.partition(".")
    if not token.startswith(KEY_PREFIX) or not prefix or not secret:
        raise KeyRefused("malformed API key")
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None:
        raise KeyRefused("unknown or revoked API key")
    if not hmac.compare_digest(key.secret_hash, _digest(secret)):
        raise KeyRefused("unknown or revoked API key")
    key.last_used_at = utcnow()
    return Caller(key_id=key.id, role=key.role, owner_id=key.owner_id)


def require_api_key(*roles: str) -> Callable[[F], F]:
    """Let the view run only for a valid bearer key of one of `roles` (any role if none)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                return json_error(401, "unauthorized", "Send 'Authorization: Bearer <API key>'.")
            session = get_session()
            try:
                caller = authenticate_token(session, token.strip())
            except KeyRefused as exc:
                return json_error(401, "unauthorized", str(exc))
            session.commit()  # last_used_at
            if roles and caller.role not in roles:
                return json_error(403, "forbidden", "This key's role may not do that.")
            g.caller = caller
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def current_caller() -> Caller:
    caller: Caller = g.caller
    return caller


def caller_operator(session: Session, caller: Caller) -> Operator | None:
    """The operator an API key acts for, if it is an operator key of a live account."""
    if caller.operator_id is None:
        return None
    operator = session.get(Operator, caller.operator_id)
    return operator if operator is not None and operator.active else None


def caller_actor(session: Session, caller: Caller) -> Actor:
    """Who acts behind an API key: its operator, or (other keys) the key itself."""
    operator = caller_operator(session, caller)
    if operator is not None:
        return operator_actor(operator)
    owner = f" of {caller.role.replace('_', ' ')} {caller.owner_id}" if caller.owner_id else ""
    return Actor(f"api-key:{caller.key_id}", f"API key {caller.key_id}{owner}")
