"""Queue SMS in the caller's transaction; send them from the outbox.

The outbox handlers here are registered by name in `gateway.wiring`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.orm import Session

from core import outbox, runtime
from core.clock import utcnow
from core.db import UTCDateTime, insert_once, skipping_duplicates
from core.outbox import OutboxItem, TransientError
from core.phones import InvalidPhoneNumber, mask_phone, normalize_phone
from core.settings import Settings
from messaging.models import (
    CATEGORIES,
    FAILED,
    QUEUED,
    SUCCESS,
    SUPPRESSED,
    SmsMessage,
)
from messaging.optouts import is_opted_out, opted_out_among
from messaging.ports import member_lookup
from messaging.reports import apply_stored_reports, apply_stored_reports_to
from messaging.senders import SendResult, cost_minor, sender_for
from messaging.templates import ANYONE, get_template, language_or_default, render, segments

logger = logging.getLogger(__name__)

SEND_KIND, INBOUND_KIND = "sms.send", "sms.inbound"
LEGAL = "legal"
INBOX_HIDDEN = (QUEUED, SUPPRESSED, FAILED)


class NotAMember(LookupError):
    """Member messages go only to a member's own registered phone."""


def house_params(settings: Settings) -> dict[str, str]:
    """Params every template may use, from settings; callers may override them."""
    return {
        "paybill": settings.paybill_number,
        "support_phone": settings.support_phone,
        "ussd_code": settings.ussd_service_code,
    }


def outbox_key(key: str) -> str:
    """Outbox keys are shared with payments; ours carry a prefix."""
    return f"sms:{key}"


def queue_sms(
    session: Session,
    to_phone: str,
    template: str,
    language: str,
    params: dict[str, Any],
    key: str,
    category: str = "transactional",
    not_before: datetime | None = None,
) -> SmsMessage | None:
    """Record an SMS and its outbox item in the caller's transaction; once per key.

    Opted-out phones get everything but legal notices recorded as `suppressed`.
    Returns None (and logs) when `to_phone` is no phone number we can reach.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown SMS category {category!r}")
    settings = runtime.current().settings
    try:
        phone = normalize_phone(to_phone, settings.default_region)
    except InvalidPhoneNumber:
        logger.warning("sms %s not queued: bad number %s", template, mask_phone(to_phone))
        return None
    language = language_or_default(language)
    body = render(template, language, **{**house_params(settings), **params})
    suppressed = category != LEGAL and is_opted_out(session, phone)
    message = insert_once(session, SmsMessage, dict(
        idempotency_key=key, to_phone=phone, body=body, language=language,
        template=template, category=category, status=SUPPRESSED if suppressed else QUEUED,
        segments=segments(body), retry_count=0, created_at=utcnow(),
    ), key="idempotency_key")
    if message is None:
        # Queued before (a replayed event) or by a concurrent transaction: that is the message.
        return _by_key(session, key)
    if not suppressed:
        outbox.add(session, SEND_KIND, outbox_key(key), {"key": key}, queue="sms",
                   not_before=not_before)
    return message


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A rendered SMS ready to queue (see `prepare` and `queue_many`)."""

    to_phone: str
    template: str
    language: str
    body: str
    key: str
    category: str = "transactional"


def prepare(to_phone: str, template: str, language: str, params: dict[str, Any], key: str,
            category: str = "transactional") -> Outgoing | None:
    """Render one SMS for `queue_many`; None (and a log line) for a number we cannot reach."""
    settings = runtime.current().settings
    try:
        phone = normalize_phone(to_phone, settings.default_region)
    except InvalidPhoneNumber:
        logger.warning("sms %s not queued: bad number %s", template, mask_phone(to_phone))
        return None
    language = language_or_default(language)
    body = render(template, language, **{**house_params(settings), **params})
    return Outgoing(phone, template, language, body, key, category)


def queue_many(session: Session, messages: Sequence[Outgoing | None]) -> int:
    """Record rendered SMS and their outbox items, however many: one statement on PostgreSQL.

    What `queue_sms` does for one message (opt-outs suppress all but legal notices,
    a key is queued once) for a batch. Returns how many were queued to send.
    """
    wanted = [m for m in messages if m is not None]
    if not wanted:
        return 0
    for message in wanted:
        if message.category not in CATEGORIES:
            raise ValueError(f"unknown SMS category {message.category!r}")
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        session.flush()  # an opt-out the caller just recorded must count
        return _queue_in_one_statement(session, wanted, now)
    opted_out = opted_out_among(session, (m.to_phone for m in wanted if m.category != LEGAL))
    inserted = session.connection().execute(_insert_messages("sqlite"), [dict(
        idempotency_key=m.key, to_phone=m.to_phone, body=m.body, language=m.language,
        template=m.template, category=m.category,
        status=SUPPRESSED if m.to_phone in opted_out and m.category != LEGAL else QUEUED,
        segments=segments(m.body), retry_count=0, created_at=now,
    ) for m in wanted]).all()
    queued = [key for key, status in inserted if status == QUEUED]
    return outbox.add_many(session, [(SEND_KIND, outbox_key(key), {"key": key}, "sms")
                                     for key in queued])


_QUEUE_MANY = text("""
WITH message AS (
    INSERT INTO sms_messages (idempotency_key, to_phone, body, language, template, category,
                              status, segments, retry_count, created_at)
    SELECT m.key, m.phone, m.body, m.language, m.template, m.category,
           CASE WHEN m.category <> :legal AND EXISTS (
                    SELECT 1 FROM sms_opt_outs o
                    WHERE o.phone = m.phone AND o.opted_back_in_at IS NULL)
                THEN :suppressed ELSE :queued END,
           m.segments, 0, :now
    FROM unnest(CAST(:keys AS TEXT[]), CAST(:phones AS TEXT[]), CAST(:bodies AS TEXT[]),
                CAST(:languages AS TEXT[]), CAST(:templates AS TEXT[]),
                CAST(:categories AS TEXT[]), CAST(:segments AS INTEGER[]))
         AS m(key, phone, body, language, template, category, segments)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING idempotency_key, status
)
INSERT INTO outbox (kind, key, queue, payload, status, attempts, next_attempt_at, created_at)
SELECT :kind, :prefix || message.idempotency_key, :queue,
       json_build_object('key', message.idempotency_key), :pending, 0, :now, :now
FROM message WHERE message.status = :queued
ON CONFLICT (key) DO NOTHING
RETURNING id, queue
""").bindparams(bindparam("now", type_=UTCDateTime()))


def _queue_in_one_statement(session: Session, wanted: list[Outgoing], now: datetime) -> int:
    """PostgreSQL: opt-outs, messages and their outbox items in one round trip."""
    rows = session.connection().execute(_QUEUE_MANY, {
        "keys": [m.key for m in wanted], "phones": [m.to_phone for m in wanted],
        "bodies": [m.body for m in wanted], "languages": [m.language for m in wanted],
        "templates": [m.template for m in wanted], "categories": [m.category for m in wanted],
        "segments": [segments(m.body) for m in wanted], "legal": LEGAL,
        "suppressed": SUPPRESSED, "queued": QUEUED, "now": now, "kind": SEND_KIND,
        "prefix": outbox_key(""), "queue": "sms", "pending": outbox.PENDING}).all()
    outbox.remember_new(session, [(item_id, queue) for item_id, queue in rows])
    return len(rows)


@lru_cache(maxsize=2)
def _insert_messages(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING, run as one multi-row statement per batch."""
    table = cast(Table, SmsMessage.__table__)
    return (skipping_duplicates(table, "idempotency_key", dialect)
            .returning(table.c.idempotency_key, table.c.status))


def notify_member(
    session: Session,
    member_phone: str,
    template: str,
    *,
    key: str,
    language: str | None = None,
    category: str = "transactional",
    not_before: datetime | None = None,
    **params: Any,
) -> SmsMessage | None:
    """Send a member-facing template to the member registered on `member_phone` only.

    The lending domain's one way to message people: the number must be a
    member's own, so nobody else ever gets a borrower's amounts.
    """
    if get_template(template).audience == ANYONE:
        raise ValueError(f"{template} is a reply, not a member notification")
    member = member_lookup().find_member(session, member_phone)
    if member is None:
        raise NotAMember(f"{mask_phone(member_phone)} is no member's phone")
    return queue_sms(session, member_phone, template, language or member.language, params,
                     key, category=category, not_before=not_before)


def _by_key(session: Session, key: str) -> SmsMessage | None:
    return session.scalar(select(SmsMessage).where(SmsMessage.idempotency_key == key))


def send_queued_sms(session: Session, item: OutboxItem) -> None:
    """Hand one queued message to the provider and record what it said."""
    message = _by_key(session, item.payload["key"])
    if message is None or message.status != QUEUED:
        return  # already sent, or suppressed since: sending twice costs the member trust
    if message.category != LEGAL and is_opted_out(session, message.to_phone):
        message.status = SUPPRESSED  # opted out after it was queued (a deferred reminder)
        return
    sender = sender_for(runtime.current().settings)
    try:
        result = sender.send(message.to_phone, message.body)
    except TransientError as exc:
        if item.attempts < outbox.MAX_ATTEMPTS:
            raise
        # Returning (not raising) keeps this write: the message is final, not stuck queued.
        result = SendResult(FAILED, failure_reason=str(exc)[:80], permanent=True)
    record_result(session, message, result)


BATCH_SECONDS = 0.25
"""How long a batch goes on handing messages to the provider before it commits. The
provider's message ids become visible at commit: a delivery report that arrives before
then is stored unmatched and never applied, so a slow provider (Africa's Talking answers
in ~0.1-0.3 s) must not hold a batch open for long; the simulator sends 50 at once."""


def send_queued_batch(session: Session, items: list[OutboxItem]) -> dict[int, Exception | None]:
    """`send_queued_sms` for many items in the drain's transaction (`outbox.BatchHandler`).

    The messages and their phones' opt-outs are read in two queries, each message is
    handed to the provider on its own (one that fails changes nothing for the others),
    and the results go back as one UPDATE per batch at commit. The items' attempts were
    counted before this runs, as for `send_queued_sms`.
    """
    wanted = {item.id: str(item.payload["key"]) for item in items}
    messages = {m.idempotency_key: m for m in session.scalars(
        select(SmsMessage).where(SmsMessage.idempotency_key.in_(set(wanted.values()))))}
    queued = [m for m in messages.values() if m.status == QUEUED]
    opted_out = opted_out_among(session, (m.to_phone for m in queued if m.category != LEGAL))
    sender = sender_for(runtime.current().settings)
    errors: dict[int, Exception | None] = {}
    sent: list[SmsMessage] = []
    deadline = time.monotonic() + BATCH_SECONDS
    for item in items:
        if sent and time.monotonic() > deadline:
            break  # the rest are not tried: they stay due for the drain's next batch
        message = messages.get(wanted[item.id])
        if message is None or message.status != QUEUED:
            errors[item.id] = None  # already sent, or suppressed since
            continue
        if message.category != LEGAL and message.to_phone in opted_out:
            message.status, errors[item.id] = SUPPRESSED, None
            continue
        try:
            result = sender.send(message.to_phone, message.body)
        except TransientError as exc:
            if item.attempts < outbox.MAX_ATTEMPTS:
                errors[item.id] = exc
                continue
            result = SendResult(FAILED, failure_reason=str(exc)[:80], permanent=True)
        except Exception as exc:  # noqa: BLE001 - a sender's bug: this message is put off
            errors[item.id] = exc
            continue
        _store_result(message, result)
        sent.append(message)
        errors[item.id] = None
    apply_stored_reports_to(session, [m for m in sent if m.provider_message_id])
    return errors


def record_result(session: Session, message: SmsMessage, result: SendResult) -> None:
    """Store what the provider answered, then any delivery report that beat us to it."""
    _store_result(message, result)
    if result.provider_message_id:
        session.flush()
        apply_stored_reports(session, message)


def _store_result(message: SmsMessage, result: SendResult) -> None:
    now = utcnow()
    message.status = result.status
    message.provider_message_id = result.provider_message_id
    message.cost, message.cost_minor = result.cost, cost_minor(result.cost)
    message.failure_reason = result.failure_reason
    if not result.permanent:
        message.sent_at = now
    if result.status == SUCCESS:
        message.delivered_at = now


def inbox(session: Session, phone: str, limit: int = 20) -> list[SmsMessage]:
    """Messages that reached `phone`, newest first (the phone simulator's inbox)."""
    return list(
        session.scalars(
            select(SmsMessage)
            .where(SmsMessage.to_phone == phone, SmsMessage.status.not_in(INBOX_HIDDEN))
            .order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc())
            .limit(limit)
        )
    )
