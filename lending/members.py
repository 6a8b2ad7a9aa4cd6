"""Members: registration, verification by a field partner, PINs, preferences, tickets.

PINs are kept as keyed verifiers (`lending.pins`): the key lives in settings, not in
the database, so a stolen table alone lets nobody test a PIN. Every function runs in
the caller's transaction; a failed PIN attempt is persisted only when the caller commits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import runtime
from core.clock import utcnow
from core.db import DriverRead
from core.phones import InvalidPhoneNumber, normalize_phone
from lending import notifications
from lending.errors import LendingError
from lending.models import (
    MEMBER_ACTIVE,
    MEMBER_REJECTED,
    PENDING_VERIFICATION,
    SUSPENDED,
    FieldPartner,
    Member,
    Ticket,
)
from lending.pins import check_pin_rules, hash_pin, needs_upgrade, pin_matches
from lending.protection import START_LIMIT, change_limit

MAX_PIN_ATTEMPTS = 3
PIN_LOCKS = (timedelta(minutes=30), timedelta(hours=24))
"""How long the first and second locks in a row last; the third lasts until unlocked."""
LOCKED_UNTIL_UNLOCKED = datetime(9999, 12, 31, tzinfo=UTC)  # menus.ports.needs_unlock
LANGUAGES = ("en", "sw")
GENDERS = ("f", "m", "x")
TICKET_KINDS = ("complaint", "hardship")
MAX_TICKET_TEXT = 1000


@dataclass(frozen=True, slots=True)
class PinCheck:
    """The outcome of a PIN attempt; `changed`: whether it wrote anything (a count, a lock,
    a reset or an upgraded verifier) that the caller must commit."""

    ok: bool
    tries_left: int
    locked_until: datetime | None
    changed: bool = True
    member: Member | None = field(default=None, compare=False, repr=False)
    """The row checked (the session holds unchanged objects only weakly: kept, a screen
    right after the check reads it without another query)."""


# --- PINs ---------------------------------------------------------------------


def check_pin(session: Session, member_id: int, pin: str) -> PinCheck:
    """Check a PIN. Three wrong in a row lock it: 30 minutes, then 24 hours, then until a
    field partner or operator unlocks it; a right one resets the count and the escalation.

    The member row is locked (SELECT ... FOR NO KEY UPDATE) before the PIN is compared, until
    the caller's transaction ends, so parallel sessions take their turns: however many guess
    at once, three wrong ones lock the PIN and no later guess is even compared. The common
    case, a right PIN with nothing to reset, writes nothing (`changed` False) and loads no
    ORM object: the caller may go on reading in the same transaction (the lock held until it
    ends) instead of committing first.
    """
    state = _pin_state().first(session, member_id=member_id)  # takes the row lock
    if state is None:
        raise LendingError("unknown_member", f"no member {member_id}")
    now = utcnow()
    if state.pin_locked_until is not None and state.pin_locked_until > now:
        return PinCheck(False, 0, state.pin_locked_until, changed=False)
    matched = pin_matches(state.pin_hash, pin)  # compared once, under the lock
    if (matched and state.pin_locked_until is None and not state.failed_pin_attempts
            and not state.pin_lock_level and not needs_upgrade(state.pin_hash)):
        return PinCheck(True, MAX_PIN_ATTEMPTS, None, changed=False)
    member = _member_for_update(session, member_id)  # the row is ours: read it to change it
    if member.pin_locked_until is not None:  # a lock that ran out
        member.pin_locked_until, member.failed_pin_attempts = None, 0
    if matched:
        member.failed_pin_attempts, member.pin_lock_level = 0, 0
        if needs_upgrade(member.pin_hash):
            member.pin_hash = hash_pin(pin)
        return PinCheck(True, MAX_PIN_ATTEMPTS, None, member=member)
    member.failed_pin_attempts += 1
    if member.failed_pin_attempts >= MAX_PIN_ATTEMPTS:
        _lock_pin(session, member, now)
        return PinCheck(False, 0, member.pin_locked_until)
    return PinCheck(False, MAX_PIN_ATTEMPTS - member.failed_pin_attempts, None)


@functools.cache
def _pin_state() -> DriverRead:
    """What a PIN check reads, under the row lock (NO KEY UPDATE: what an UPDATE of these
    columns takes anyway; rows that reference the member can still be inserted meanwhile).
    On the driver's cursor: a right PIN with nothing to reset needs no ORM object."""
    return DriverRead(
        select(Member.pin_hash, Member.pin_locked_until, Member.failed_pin_attempts,
               Member.pin_lock_level)
        .where(Member.id == bindparam("member_id")).with_for_update(key_share=True))


def _member_for_update(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id, with_for_update={"key_share": True},
                         populate_existing=True)
    if member is None:
        raise LendingError("unknown_member", f"no member {member_id}")
    return member


def _lock_pin(session: Session, member: Member, now: datetime) -> None:
    member.pin_lock_level = min(member.pin_lock_level + 1, len(PIN_LOCKS) + 1)
    if member.pin_lock_level <= len(PIN_LOCKS):
        member.pin_locked_until = now + PIN_LOCKS[member.pin_lock_level - 1]
    else:
        member.pin_locked_until = LOCKED_UNTIL_UNLOCKED
    notifications.pin_locked(session, member, now)


def is_pin_locked(member: Member) -> bool:
    return member.pin_locked_until is not None and member.pin_locked_until > utcnow()


def needs_unlock(member: Member) -> bool:
    """Locked until a field partner or operator unlocks it (not just for a while)."""
    return member.pin_locked_until == LOCKED_UNTIL_UNLOCKED


def unlock_pin(session: Session, member_id: int, actor: str) -> Member:
    """A field partner or operator, having met or called the member, lifts a PIN lock
    (the caller audits it); the count and the escalation start again."""
    member = _member_for_update(session, member_id)
    if not is_pin_locked(member):
        raise LendingError("pin_not_locked", f"member {member_id}'s PIN is not locked")
    member.pin_locked_until, member.failed_pin_attempts, member.pin_lock_level = None, 0, 0
    notifications.pin_unlocked(session, member, utcnow())
    return member


def change_pin(session: Session, member_id: int, old_pin: str, new_pin: str) -> PinCheck:
    """Set a new PIN once the old one is right; a wrong old PIN counts towards the lock."""
    check_pin_rules(new_pin)
    result = check_pin(session, member_id, old_pin)
    if result.ok:
        get_member(session, member_id).pin_hash = hash_pin(new_pin)
    return result


# --- registration and verification ------------------------------------------------


def e164(phone: str) -> str:
    """The E.164 form of a phone typed any usual way; LendingError("invalid_phone") when
    it is none."""
    try:
        return normalize_phone(phone, runtime.current().settings.default_region)
    except InvalidPhoneNumber as exc:
        raise LendingError("invalid_phone", str(exc), field="phone") from None


def _check_choice(value: str | None, options: tuple[str, ...], field: str) -> None:
    if value is not None and value not in options:
        raise LendingError(f"invalid_{field}", f"must be one of {', '.join(options)}", field=field)


def _clean_name(value: str | None, field: str, *, required: bool) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise LendingError(f"invalid_{field}", "is required", field=field)
        return None
    if len(text) > 60:
        raise LendingError(f"invalid_{field}", "is too long", field=field)
    return text


def register_member(
    session: Session, *, phone: str, first_name: str, national_id: str | None, pin: str,
    language: str, consent: bool, last_name: str | None = None, gender: str | None = None,
    region: str | None = None, sector: str | None = None,
) -> Member:
    """Register a borrower pending verification, with the starting credit limit."""
    if consent is not True:
        raise LendingError("consent_required", "consent to the terms is required", field="consent")
    number = e164(phone)
    _check_choice(language, LANGUAGES, "language")
    _check_choice(gender, GENDERS, "gender")
    check_pin_rules(pin)
    national_id = (national_id or "").strip() or None
    _refuse_duplicates(session, number, national_id)
    member = Member(
        phone=number, first_name=_clean_name(first_name, "first_name", required=True),
        last_name=_clean_name(last_name, "last_name", required=False), national_id=national_id,
        gender=gender, region=region, sector=sector, language=language,
        status=PENDING_VERIFICATION, is_borrower=True, is_lender=False, pin_hash=hash_pin(pin),
        failed_pin_attempts=0, consent_at=utcnow(), reminders_enabled=True, credit_limit=0,
        created_at=utcnow(),
    )
    _insert_member(session, member)
    change_limit(session, member, START_LIMIT, reason="initial")
    return member


def _refuse_duplicates(session: Session, phone: str, national_id: str | None) -> None:
    if session.scalar(select(Member.id).where(Member.phone == phone)) is not None:
        raise LendingError("already_registered", "this phone is already registered")
    if national_id is not None and session.scalar(
        select(Member.id).where(Member.national_id == national_id)
    ) is not None:
        raise LendingError("id_in_use", "this ID number belongs to another member")


def _insert_member(session: Session, member: Member) -> None:
    """Insert; a concurrent registration of the same phone or ID loses cleanly."""
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
    except IntegrityError:
        _refuse_duplicates(session, member.phone, member.national_id)
        raise


def verify_member(session: Session, member_id: int, field_partner_id: int, actor: str) -> Member:
    """A field partner vouches for the member: pending_verification -> active."""
    member = get_member(session, member_id)
    if session.get(FieldPartner, field_partner_id) is None:
        raise LendingError("unknown_field_partner", f"no field partner {field_partner_id}")
    if member.status == SUSPENDED:
        raise LendingError("member_suspended", "a suspended member cannot be verified")
    if member.status in (PENDING_VERIFICATION, MEMBER_REJECTED):
        member.status = MEMBER_ACTIVE
        member.field_partner_id = field_partner_id
        member.verified_at, member.verified_by = utcnow(), actor[:80]
    return member


def confirm_registration(session: Session, member_id: int, field_partner_id: int,
                         actor: str) -> Member:
    """Verify a waiting registration and tell the member by SMS, in their language."""
    member = get_member(session, member_id)
    waiting = member.status in (PENDING_VERIFICATION, MEMBER_REJECTED)
    verify_member(session, member_id, field_partner_id, actor)
    if waiting:
        notifications.registration_verified(session, member)
    return member


def reject_registration(session: Session, member_id: int, actor: str, reason: str) -> Member:
    """Refuse a waiting registration, saying why (kept by the caller's audit); SMS the member."""
    member = get_member(session, member_id)
    if member.status != PENDING_VERIFICATION:
        raise LendingError("not_pending_verification",
                           f"member {member_id} is {member.status}, not waiting for verification")
    if len(reason.strip()) < 3:
        raise LendingError("reason_required", "say why the registration is refused")
    member.status = MEMBER_REJECTED
    member.verified_at, member.verified_by = utcnow(), actor[:80]
    notifications.registration_rejected(session, member)
    return member


# --- lookups and preferences ------------------------------------------------------


def get_member(session: Session, member_id: int) -> Member:
    """The member, or LendingError("unknown_member")."""
    member = session.get(Member, member_id)
    if member is None:
        raise LendingError("unknown_member", f"no member {member_id}")
    return member


def find_member_by_phone(session: Session, phone: str) -> Member | None:
    """The member registered on this phone (any usual spelling of it), or None."""
    try:
        e164 = normalize_phone(phone, runtime.current().settings.default_region)
    except InvalidPhoneNumber:
        return None
    return session.scalar(select(Member).where(Member.phone == e164))


def set_language(session: Session, member_id: int, language: str) -> None:
    """Remember the member's language ("en" or "sw")."""
    _check_choice(language, LANGUAGES, "language")
    get_member(session, member_id).language = language


def set_reminders(session: Session, member_id: int, enabled: bool) -> None:
    """Turn repayment reminder SMS on or off."""
    get_member(session, member_id).reminders_enabled = bool(enabled)


def become_lender(session: Session, member_id: int) -> Member:
    """Let a member fund loans as well."""
    member = get_member(session, member_id)
    if member.status == SUSPENDED:
        raise LendingError("member_suspended", "a suspended member cannot lend")
    member.is_lender = True
    return member


def open_ticket(session: Session, member_id: int, kind: str, text: str) -> Ticket:
    """Record a complaint or a hardship request for an operator."""
    get_member(session, member_id)
    _check_choice(kind, TICKET_KINDS, "kind")
    body = (text or "").strip()
    if not body or len(body) > MAX_TICKET_TEXT:
        raise LendingError("invalid_text", f"1 to {MAX_TICKET_TEXT} characters", field="text")
    ticket = Ticket(member_id=member_id, kind=kind, text=body, status="open", created_at=utcnow())
    session.add(ticket)
    session.flush()
    return ticket
