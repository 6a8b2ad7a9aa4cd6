"""Repayment reminders: which to send today, when (never at night), and each only once.

The policy (which offsets a product uses) is the lending domain's and arrives with
each installment through the port; the machinery is here. Reminders are written
in bulk with insert-or-ignore on their unique keys, so a second or concurrent
run adds nothing, and those that would fall in quiet hours wait in the outbox.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Table, bindparam, select, text, update
from sqlalchemy.orm import Session

from core import runtime
from core.clock import utcnow
from core.db import skipping_duplicates
from core.jobs import enqueue_quietly
from core.outbox import PENDING, OutboxItem, dispatch
from messaging.models import QUEUED, SUPPRESSED, SmsMessage
from messaging.optouts import opted_out_among
from messaging.outbound import SEND_KIND, house_params, outbox_key
from messaging.ports import DueInstallment, PortNotConfigured, member_lookup
from messaging.templates import TIP_TEMPLATES, language_or_default, render, segments

logger = logging.getLogger(__name__)

DEFAULT_OFFSETS = (-3, 0, 1, 7)
SCANNED_OFFSETS = (-7, -3, -1, 0, 1, 3, 7, 14)
"""Days from the due date that are looked at; a product's offsets are a subset of these."""
QUIET_FROM, QUIET_UNTIL = time(20, 0), time(8, 0)
BATCH, DISPATCH_CHUNK = 1000, 200
KEY_PREFIX = "reminder:"
TIP_EVERY = timedelta(days=7)
"""A phone gets at most one education tip in this long (docs/education.md)."""


@dataclass
class ReminderPlan:
    """What one planning run did."""

    day: date
    not_before: datetime | None
    queued: int = 0
    suppressed: int = 0
    already_planned: int = 0
    released: int = 0
    """Reminders handed to the workers by this run (planned now or earlier, due now)."""


def reminder_key(installment_id: int, offset: int) -> str:
    return f"{KEY_PREFIX}{installment_id}:{stage(offset)}"


def stage(offset: int) -> str:
    """`d-3`, `d+0`, `d+1`, `d+7`: the stage's distance from the due date."""
    return f"d{offset:+d}"


def template_for(offset: int) -> str:
    if offset < 0:
        return "reminder_upcoming"
    if offset == 0:
        return "reminder_due_today"
    return "reminder_late" if offset < 7 else "reminder_late_help"


def reminder_day(now: datetime, tz: str) -> tuple[date, datetime | None]:
    """The local day whose reminders go out next, and `not_before` if that is later.

    In the evening quiet hours it is tomorrow's: a "due today" sent tomorrow
    morning must be about tomorrow.
    """
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return local.date(), None
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return day, datetime.combine(day, QUIET_UNTIL, tzinfo=zone).astimezone(UTC)


def dates_to_scan(day: date, offsets: Iterable[int] = SCANNED_OFFSETS) -> list[date]:
    """Due dates that are `offset` days from `day`, for the port's query."""
    return [day - timedelta(days=offset) for offset in offsets]


def plan_reminders(
    session: Session, now: datetime, due_installments: Iterable[DueInstallment],
    *, tz: str = "Africa/Nairobi",
) -> ReminderPlan:
    """Queue the reminders due on the next reminder day, in bulk, each key once."""
    day, not_before = reminder_day(now, tz)
    plan = ReminderPlan(day, not_before)
    settings_params = house_params(runtime.current().settings)
    wanted = (
        (inst, (day - inst.due_date).days) for inst in due_installments
        if (day - inst.due_date).days in inst.reminder_offsets
    )
    for batch in _chunks(wanted, BATCH):
        _queue_batch(session, batch, now, not_before, settings_params, plan)
    return plan


def _queue_batch(
    session: Session, batch: list[tuple[DueInstallment, int]], now: datetime,
    not_before: datetime | None, house: dict[str, str], plan: ReminderPlan,
) -> None:
    keyed = [(inst, offset, reminder_key(inst.installment_id, offset)) for inst, offset in batch]
    # Most runs of the day find everything planned already: skip rendering those.
    planned = set(session.scalars(
        select(SmsMessage.idempotency_key)
        .where(SmsMessage.idempotency_key.in_([key for _, _, key in keyed]))
    ))
    fresh = [(inst, offset, key) for inst, offset, key in keyed if key not in planned]
    opted_out = opted_out_among(session, (inst.phone for inst, _, _ in fresh))
    rows = [_message_row(inst, offset, key, now, house, inst.phone in opted_out)
            for inst, offset, key in fresh]
    add_tips(session, rows, now)
    inserted = {
        key for (key,) in _insert_ignoring_duplicates(
            session, SmsMessage.__table__, rows, "idempotency_key", "idempotency_key")
    }
    plan.already_planned += len(keyed) - len(inserted)
    to_send = [r for r in rows if r["idempotency_key"] in inserted and r["status"] == QUEUED]
    plan.suppressed += len(inserted) - len(to_send)
    plan.queued += len(to_send)
    items = [_outbox_row(r["idempotency_key"], now, not_before or now) for r in to_send]
    _insert_ignoring_duplicates(session, OutboxItem.__table__, items, "key", "id")


def _message_row(
    inst: DueInstallment, offset: int, key: str, now: datetime, house: dict[str, str],
    opted_out: bool,
) -> dict[str, Any]:
    language = language_or_default(inst.language)
    body = render(template_for(offset), language, **house, amount=inst.amount_due,
                  reference=inst.loan_reference, due_date=inst.due_date)
    return {
        "idempotency_key": key, "to_phone": inst.phone,
        "body": body, "language": language, "template": template_for(offset),
        "category": "reminder", "status": SUPPRESSED if opted_out else QUEUED,
        "segments": segments(body), "retry_count": 0, "created_at": now, "tip": None,
    }


def add_tips(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    """Follow some reminders with a money tip: a phone gets one a week at most, and only
    when the tip fits in the segments the reminder takes anyway (it never costs an SMS)."""
    phones = {row["to_phone"] for row in rows if row["status"] == QUEUED}
    if not phones:
        return
    tipped = set(session.scalars(
        select(SmsMessage.to_phone).where(SmsMessage.to_phone.in_(phones),
                                          SmsMessage.tip.is_not(None),
                                          SmsMessage.created_at > now - TIP_EVERY)))
    week = now.isocalendar().week
    for row in rows:
        phone = row["to_phone"]
        if row["status"] != QUEUED or phone in tipped:
            continue
        tip = TIP_TEMPLATES[(week + int(phone[-4:] or 0)) % len(TIP_TEMPLATES)]
        body = f"{row['body']} {render(tip, row['language'])}"
        if segments(body) == row["segments"]:
            row["body"], row["tip"] = body, tip
            tipped.add(phone)


def _outbox_row(key: str, now: datetime, due: datetime) -> dict[str, Any]:
    return {
        "kind": SEND_KIND, "key": outbox_key(key), "queue": "sms", "payload": {"key": key},
        "status": PENDING, "attempts": 0, "next_attempt_at": due, "created_at": now,
    }


def _insert_ignoring_duplicates(
    session: Session, table: Any, rows: list[dict[str, Any]], unique: str, returning: str,
) -> list[Any]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING, on PostgreSQL and SQLite alike."""
    if not rows:
        return []
    assert isinstance(table, Table)
    if session.get_bind().dialect.name == "postgresql":
        return _insert_unnest(session, table, rows, unique, returning)
    statement = skipping_duplicates(table, unique, "sqlite").returning(table.c[returning])
    return list(session.execute(statement, rows).all())


def _insert_unnest(
    session: Session, table: Table, rows: list[dict[str, Any]], unique: str, returning: str,
) -> list[Any]:
    """One array per column through `unnest`: a thousand rows in a statement of one line.

    A multi-row VALUES list of the same rows has 14,000 placeholders, and parsing
    that client-side cost more than the database took to insert them.
    """
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    names = list(rows[0])
    params: dict[str, list[Any]] = {}
    arrays, picks = [], []
    for i, name in enumerate(names):
        column = table.c[name]
        values = [row[name] for row in rows]
        if isinstance(column.type, JSON):  # no array of JSON to bind: send text, cast back
            params[f"a{i}"] = [json.dumps(value) for value in values]
            arrays.append(f"CAST(:a{i} AS TEXT[])")
            picks.append(f"CAST(t.c{i} AS JSON)")
        else:
            params[f"a{i}"] = values
            arrays.append(f"CAST(:a{i} AS {column.type.compile(dialect=dialect)}[])")
            picks.append(f"t.c{i}")
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
        f"SELECT {', '.join(picks)} FROM unnest({', '.join(arrays)}) AS t({aliases}) "
        f"ON CONFLICT ({quote(unique)}) DO NOTHING RETURNING {quote(returning)}"
    )
    return list(session.execute(text(sql), params).all())


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def cancel_reminders(session: Session, *installment_ids: int) -> int:
    """Withdraw the reminders not yet sent of installments just paid; returns how many.

    Reminders planned overnight wait for 08:00; one paid at 07:00 must not be chased.
    One statement for all the installments (a repayment may pay off several).
    """
    if not installment_ids:
        return 0
    # By exact keys, which the unique index finds; a prefix LIKE would scan every SMS.
    keys = [reminder_key(installment_id, offset)
            for installment_id in installment_ids for offset in SCANNED_OFFSETS]
    session.flush()  # a Core statement: what the session holds must be written first
    result = session.connection().execute(_CANCEL, {"keys": keys})
    for message in session.identity_map.values():  # objects of these rows: stale now
        if isinstance(message, SmsMessage) and message.idempotency_key in keys:
            session.expire(message, ["status", "failure_reason"])
    return int(getattr(result, "rowcount", 0) or 0)


_CANCEL = (update(SmsMessage)
           .where(SmsMessage.idempotency_key.in_(bindparam("keys", expanding=True)),
                  SmsMessage.status == QUEUED)
           .values(status=SUPPRESSED, failure_reason="installment paid"))


def release_due_reminders(session: Session, now: datetime) -> list[int]:
    """Outbox ids of reminders whose time has come and that no job has tried yet."""
    return list(
        session.scalars(
            select(OutboxItem.id)
            .where(OutboxItem.status == PENDING, OutboxItem.next_attempt_at <= now,
                   OutboxItem.kind == SEND_KIND, OutboxItem.attempts == 0,
                   OutboxItem.key.startswith(outbox_key(KEY_PREFIX)))
            .order_by(OutboxItem.id)
        )
    )


def dispatch_reminders(item_ids: list[int]) -> int:
    """Send a chunk of reminders (an rq job); each item in its own transaction."""
    return sum(dispatch(item_id) == "done" for item_id in item_ids)


def enqueue_dispatch(item_ids: list[int]) -> int:
    """Enqueue the sending of `item_ids` in chunks; returns how many jobs."""
    jobs = 0
    for start in range(0, len(item_ids), DISPATCH_CHUNK):
        chunk = item_ids[start:start + DISPATCH_CHUNK]
        enqueue_quietly(dispatch_reminders, chunk, queue="sms",
                        job_id=f"sms-reminders-{chunk[0]}-{chunk[-1]}")
        jobs += 1
    return jobs


def run_reminders() -> ReminderPlan | None:
    """Plan the next reminder day's reminders and send those whose time has come."""
    rt = runtime.current()
    try:
        port = member_lookup()
    except PortNotConfigured:
        logger.warning("reminders skipped: no lending adapter installed")
        return None
    now = utcnow()
    tz = rt.settings.timezone
    day, _ = reminder_day(now, tz)
    with rt.db.transaction() as session:
        due = port.due_installments(session, dates_to_scan(day))
        plan = plan_reminders(session, now, due, tz=tz)
        released = release_due_reminders(session, now)
    enqueue_dispatch(released)
    plan.released = len(released)
    logger.info("reminders for %s: %d queued, %d suppressed, %d already planned, %d released",
                day, plan.queued, plan.suppressed, plan.already_planned, plan.released)
    return plan
