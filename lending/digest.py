"""Lenders' daily digest of repayments: one SMS per lender per day, each line with its balance.

A repayment writes one `LenderCredit` row per lender (their share and the wallet
balance that repayment left). Lenders who chose an SMS per repayment get it with
the repayment and their row is marked notified then; everyone else hears once a
day, after `DIGEST_HOUR` local time, about every repayment received before it.
The message key is per lender and local day, and rows are marked as they are
summarised, so running the job again (or twice at once) sends nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import runtime
from core.clock import utcnow
from core.gsm7 import septets
from core.money import Money
from lending.errors import LendingError
from lending.localtime import timezone_name
from lending.models import REPAYMENT_SMS_CHOICES, LenderCredit, Member
from messaging.outbound import Outgoing, house_params, queue_many
from messaging.templates import language_or_default, render

logger = logging.getLogger(__name__)

DIGEST_HOUR = 19
"""Local hour from which the day's digest goes out (repayments before it are in it)."""
MAX_SEPTETS = 3 * 153
"""A digest is at most three SMS segments; lines that do not fit become "…and n more"."""
LENDERS_PER_TRANSACTION = 500


@dataclass(frozen=True, slots=True)
class DigestLine:
    reference: str
    amount: int
    balance_after: int
    currency: str


def set_repayment_sms(session: Session, member_id: int, choice: str) -> Member:
    """Choose how a lender hears of repayments: `digest` (daily, the default) or `each`."""
    if choice not in REPAYMENT_SMS_CHOICES:
        raise LendingError("invalid_repayment_sms", "digest or each", field="repayment_sms")
    member = session.get(Member, member_id)
    if member is None:
        raise LendingError("unknown_member", f"no member {member_id}")
    member.repayment_sms = choice
    return member


def render_digest(language: str, day: date, lines: Sequence[DigestLine]) -> str:
    """The digest text: lines in the order received, as many as fit, then the total."""
    settings = runtime.current().settings
    house = house_params(settings)
    currency = lines[-1].currency
    total = render("lender_digest_total", language, **house,
                   amount=Money(sum(line.amount for line in lines), currency),
                   count=len(lines), balance=Money(lines[-1].balance_after, currency))
    parts = [render("lender_digest_head", language, **house, date=day)]
    for shown, line in enumerate(lines):
        text = render("lender_digest_line", language, **house, reference=line.reference,
                      amount=Money(line.amount, line.currency),
                      balance=Money(line.balance_after, line.currency))
        more = render("lender_digest_more", language, **house, count=len(lines) - shown - 1)
        ending = [text, total] if shown == len(lines) - 1 else [text, more, total]
        if septets("\n".join([*parts, *ending])) > MAX_SEPTETS:
            parts.append(render("lender_digest_more", language, **house,
                                count=len(lines) - shown))
            break
        parts.append(text)
    parts.append(total)
    return "\n".join(parts)


def send_lender_digests(now: datetime | None = None) -> int:
    """The periodic job: queue today's digests once it is past DIGEST_HOUR; returns how many."""
    now = now or utcnow()
    zone = ZoneInfo(timezone_name())
    local = now.astimezone(zone)
    if local.hour < DIGEST_HOUR:
        return 0
    cutoff = datetime.combine(local.date(), time(DIGEST_HOUR), zone)
    sent = 0
    while True:
        with runtime.current().db.transaction() as session:
            done, queued = _digest_some(session, local.date(), cutoff)
        sent += queued
        if done < LENDERS_PER_TRANSACTION:
            break
    if sent:
        logger.info("lender digests queued: %s", sent)
    return sent


def _digest_some(session: Session, day: date, cutoff: datetime) -> tuple[int, int]:
    """Summarise the pending credits of some lenders; returns (lenders, messages queued)."""
    lenders = list(session.scalars(
        select(LenderCredit.lender_id)
        .where(LenderCredit.notified_at.is_(None), LenderCredit.received_at < cutoff)
        .group_by(LenderCredit.lender_id)
        .order_by(LenderCredit.lender_id)
        .limit(LENDERS_PER_TRANSACTION)))
    if not lenders:
        return 0, 0
    query = (
        select(LenderCredit.id, LenderCredit.lender_id, LenderCredit.loan_reference,
               LenderCredit.amount, LenderCredit.balance_after, LenderCredit.currency,
               Member.phone, Member.language)
        .join(Member, Member.id == LenderCredit.lender_id)
        .where(LenderCredit.lender_id.in_(lenders), LenderCredit.notified_at.is_(None),
               LenderCredit.received_at < cutoff)
        .order_by(LenderCredit.lender_id, LenderCredit.id)
        # a second job at the same time leaves these lenders to this one (SQLAlchemy
        # leaves the clause out on SQLite, whose writers take turns)
        .with_for_update(of=LenderCredit, skip_locked=True))
    rows = session.execute(query).all()
    by_lender: dict[int, list[Any]] = {}
    for row in rows:
        by_lender.setdefault(row.lender_id, []).append(row)
    messages = []
    for lender_id, credits in by_lender.items():
        language = language_or_default(credits[0].language)
        body = render_digest(language, day, [
            DigestLine(c.loan_reference, c.amount, c.balance_after, c.currency)
            for c in credits])
        messages.append(Outgoing(credits[0].phone, "lender_digest", language, body,
                                 f"lender-digest:{lender_id}:{day.isoformat()}"))
    queued = queue_many(session, messages)
    session.execute(update(LenderCredit).where(LenderCredit.id.in_([r.id for r in rows]))
                    .values(notified_at=utcnow()).execution_options(synchronize_session=False))
    return len(lenders), queued
