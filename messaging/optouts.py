"""Who asked for no more messages: AT's opt-out callback and our STOP/START keywords."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.phones import mask_phone
from messaging.models import SmsOptOut

logger = logging.getLogger(__name__)

AT_OPT_OUT, STOP_KEYWORD = "at_opt_out", "stop_keyword"


def opt_out(session: Session, phone: str, source: str) -> SmsOptOut:
    """Record that `phone` wants no more messages; repeating it changes nothing."""
    record = session.scalar(select(SmsOptOut).where(SmsOptOut.phone == phone))
    if record is None:
        record = SmsOptOut(phone=phone, source=source, opted_out_at=utcnow())
        session.add(record)
    elif not record.active:
        record.source, record.opted_out_at, record.opted_back_in_at = source, utcnow(), None
    else:
        return record
    logger.info("sms opt-out for %s (%s)", mask_phone(phone), source)
    return record


def opt_in(session: Session, phone: str) -> bool:
    """Lift an opt-out; returns whether there was one to lift."""
    record = session.scalar(select(SmsOptOut).where(SmsOptOut.phone == phone))
    if record is None or not record.active:
        return False
    record.opted_back_in_at = utcnow()
    logger.info("sms opt-in for %s", mask_phone(phone))
    return True


def is_opted_out(session: Session, phone: str) -> bool:
    return bool(opted_out_among(session, [phone]))


def opted_out_among(session: Session, phones: Iterable[str]) -> set[str]:
    """The phones among `phones` that are currently opted out (one query)."""
    wanted = list(set(phones))
    if not wanted:
        return set()
    rows = session.scalars(
        select(SmsOptOut.phone).where(
            SmsOptOut.phone.in_(wanted), SmsOptOut.opted_back_in_at.is_(None)
        )
    )
    return set(rows)
