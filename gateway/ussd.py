"""USSD over HTTP in Africa's Talking's format: parse the form, run the engine, answer text.

The engine gets the domain through `borrower_services()`. Tests (and the phone
simulator) swap it by putting a factory in `app.extensions["ussd_services_factory"]`:
a callable taking the request's SQLAlchemy session and returning a
`menus.ports.BorrowerServices`. Without one, the menus run on the real domain.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Mapping

import phonenumbers
from flask import Blueprint, Response, current_app, request
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from redis import Redis
from sqlalchemy.orm import Session, configure_mappers
from werkzeug.exceptions import HTTPException

from core.phones import InvalidPhoneNumber, normalize_phone
from gateway import errors
from gateway.database import get_runtime, get_session
from gateway.metrics import USSD_DROPOFF
from gateway.provider_guards import require_africas_talking
from menus.adapters import DomainBorrowerServices
from menus.engine import EngineConfig, UssdEngine, UssdRequest
from menus.events import KNOWN_STATUSES, SessionEnded, parse_event_date, record_event
from menus.ports import BorrowerServices
from menus.screens import end_screen
from menus.texts import SORRY, translate

logger = logging.getLogger(__name__)

bp = Blueprint("ussd", __name__)
bp.before_request(require_africas_talking)

MAX_SESSION_ID = 128
MAX_EVENT_TEXT = 4000


class BadForm(ValueError):
    """A field the telco must send is missing or malformed."""


def borrower_services() -> BorrowerServices:
    """The domain behind the menus for this request."""
    factory = current_app.extensions.get("ussd_services_factory")
    if factory is not None:
        services: BorrowerServices = factory(get_session())
        return services
    return DomainBorrowerServices(get_session)  # the session made only if a step needs one


def engine() -> UssdEngine:
    runtime = get_runtime()
    s = runtime.settings
    return _engine(runtime.redis, EngineConfig(s.currency, s.timezone, s.ussd_service_code,
                                               _cache_secret(s.secret_key)))


@functools.lru_cache(maxsize=16)
def _engine(redis: Redis, config: EngineConfig) -> UssdEngine:
    """One engine per Redis client and settings: it keeps no request's state, and making
    one registers (hashes) its two Lua scripts."""
    return UssdEngine(redis, config)


@functools.lru_cache(maxsize=4)
def _cache_secret(secret_key: str) -> bytes:
    """The replay cache's key, derived from SECRET_KEY (shared by every web process)."""
    return hmac.new(secret_key.encode(), b"mkopo ussd reply cache", hashlib.sha256).digest()


def _required(form: Mapping[str, str], name: str, limit: int) -> str:
    value = form.get(name, "").strip()
    if not value or len(value) > limit or not value.isprintable():
        raise BadForm(name)
    return value


def _phone(form: Mapping[str, str]) -> str:
    try:
        return normalize_phone(_required(form, "phoneNumber", 32),
                               get_runtime().settings.default_region)
    except InvalidPhoneNumber as exc:
        raise BadForm("phoneNumber") from exc



def warm_up(region: str) -> None:
    """Do once, as the process starts, what its first USSD request would otherwise pay for
    while a phone waits: the ORM's mapper configuration and phonenumbers' region metadata
    and patterns (the first number parsed compiles them: ~0.1–1 s of CPU per process)."""
    configure_mappers()
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    if example is not None:
        normalize_phone(phonenumbers.format_number(example, PhoneNumberFormat.E164), region)


def parse_request(form: Mapping[str, str]) -> UssdRequest:
    """Validate the telco's form; raises BadForm naming the first bad field."""
    if "text" not in form:
        raise BadForm("text")
    return UssdRequest(
        session_id=_required(form, "sessionId", MAX_SESSION_ID),
        service_code=_required(form, "serviceCode", 40),
        phone=_phone(form),
        network_code=form.get("networkCode", "").strip()[:20],
        # never cut: the path must extend the last one (the engine caps it); a NUL is no
        # character a handset can type, and no database column can hold it
        text=form["text"].replace("\x00", ""),
    )


INT_COLUMN = range(-(2**31), 2**31)  # what the event's integer columns hold


def _int_or_none(raw: str | None) -> int | None:
    """A count the telco sent, or None when it sent none, or none a column can hold (the
    event is still stored: a wild `hopsCount` must not turn its notice into a 500)."""
    try:
        value = int(raw) if raw not in (None, "") else None
    except ValueError:
        return None
    return value if value is None or value in INT_COLUMN else None


def parse_event(form: Mapping[str, str]) -> SessionEnded:
    """Validate the end-of-session notification (its `input` still holds typed PINs:
    `menus.events.record_event` masks them before anything is stored)."""
    return SessionEnded(
        session_id=_required(form, "sessionId", MAX_SESSION_ID),
        phone=_phone(form),
        status=_required(form, "status", 20),
        service_code=form.get("serviceCode", "")[:40],
        network_code=form.get("networkCode", "")[:20],
        input=form.get("input", "")[:MAX_EVENT_TEXT],
        last_response=form.get("lastAppResponse", "")[:1000],
        hops=_int_or_none(form.get("hopsCount")),
        duration_ms=_int_or_none(form.get("durationInMillis")),
        cost=form.get("cost", "")[:40],
        error_message=form.get("errorMessage", "")[:1000],
        occurred_at=parse_event_date(form.get("date", "")),
    )


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


@bp.errorhandler(Exception)
def _polite_end(exc: Exception) -> Response | tuple[Response, int]:
    """Whatever fails around the engine (a hook, the database), the phone gets an END screen."""
    if isinstance(exc, HTTPException) and (exc.code or 500) < 500:
        return _text(f"{exc.code} {exc.name}", exc.code or 400)
    if request.path != "/ussd":  # an end-of-session notice unstored: 500, so the telco retries
        return errors.unexpected_error(exc)
    logger.error("ussd request failed outside the engine on %s", request.path, exc_info=exc)
    return _text(end_screen(translate("en", SORRY)).body)


@bp.post("/ussd")
def answer() -> Response:
    """Answer one USSD step with `CON …` or `END …`."""
    try:
        ussd_request = parse_request(request.form)
    except BadForm as exc:
        return _text(f"missing or malformed field: {exc}", 400)
    try:
        reply = engine().handle(ussd_request, borrower_services())
    except Exception:  # noqa: BLE001 - Redis or wiring down: still a polite screen
        logger.exception("ussd request failed", extra={"session": ussd_request.session_id})
        reply = end_screen(translate("en", SORRY))
    return _text(reply.body)


@bp.post("/ussd/events")
def session_ended() -> Response:
    """Store an end-of-session notification and count where sessions stop."""
    try:
        event = parse_event(request.form)
    except BadForm as exc:
        return _text(f"missing or malformed field: {exc}", 400)
    session: Session = get_session()
    screen, first = record_event(session, engine(), event)
    session.commit()
    if first:
        status = event.status if event.status in KNOWN_STATUSES else "other"
        USSD_DROPOFF.labels(screen, status).inc()
    return _text("OK")
