"""End-of-session notifications: stored once per session, and used to keep a dropped place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import insert_once
from menus.engine import UssdEngine, mask_path
from menus.models import UssdEvent

DROPPED = frozenset({"Incomplete", "Failed"})
KNOWN_STATUSES = frozenset({"Success", *DROPPED})


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The telco's notification, already validated; `phone` is E.164."""

    session_id: str
    phone: str
    status: str
    service_code: str = ""
    network_code: str = ""
    input: str = ""
    last_response: str = ""
    hops: int | None = None
    duration_ms: int | None = None
    cost: str = ""
    error_message: str = ""
    occurred_at: datetime | None = None


def parse_event_date(raw: str) -> datetime | None:
    """Africa's Talking sends `YYYY-MM-DD HH:MM:SS`; we store it as UTC when it parses."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def record_event(session: Session, engine: UssdEngine, event: SessionEnded) -> tuple[str, bool]:
    """Store the event (once per session) and keep or forget the place to resume.

    Returns the last screen id and whether this was the first report of the session.
    The telco's `input` is the typed path, PINs included: they are masked first, where
    the session says they were typed (or, the session gone, every 4-digit answer).
    """
    typed = mask_path(event.input, engine.masked_positions(event.session_id))
    if event.status in DROPPED:
        screen = engine.rearm_resume(event.session_id, event.phone)
    else:
        screen = engine.forget_resume(event.session_id, event.phone)
    row = insert_once(session, UssdEvent, dict(
        session_id=event.session_id, phone=event.phone, service_code=event.service_code,
        network_code=event.network_code, status=event.status, last_screen=screen[:60],
        input=typed, last_response=event.last_response, hops=event.hops,
        duration_ms=event.duration_ms, cost=event.cost, error_message=event.error_message,
        occurred_at=event.occurred_at, received_at=utcnow(),
    ), "session_id")
    return screen, row is not None  # None: a resent notification, already counted
