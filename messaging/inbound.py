"""Inbound SMS: stored at once (deduplicated on AT's id), then processed by a job."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from core import outbox, runtime
from core.clock import as_utc, utcnow
from core.db import insert_once
from core.money import Money
from core.outbox import TransientError
from core.phones import InvalidPhoneNumber, mask_phone, normalize_phone
from messaging import optouts
from messaging.keywords import (
    BALANCE,
    HELP,
    REPAY,
    START,
    STOP,
    UNKNOWN,
    Command,
    parse_command,
)
from messaging.models import InboundSms
from messaging.outbound import INBOUND_KIND, LEGAL, queue_sms
from messaging.ports import (
    NO_ACTIVE_LOAN,
    MemberInfo,
    PortNotConfigured,
    RepaymentRefused,
    member_lookup,
)

logger = logging.getLogger(__name__)

RATE_LIMIT, RATE_WINDOW = 5, timedelta(minutes=10)
"""Commands per phone per window; beyond it we stay silent so nobody runs up the bill."""


class InvalidInbound(ValueError):
    """An inbound SMS form without the fields we need."""


@dataclass(frozen=True)
class InboundForm:
    provider_id: str
    from_phone: str
    to_code: str
    text: str
    link_id: str | None
    network_code: str | None
    provider_date: str | None

    @classmethod
    def parse(cls, form: Mapping[str, str]) -> InboundForm:
        """Validate AT's form (CONTRACT: `from`, `to`, `text`, `date`, `id`, `linkId`, …)."""
        missing = [name for name in ("id", "from", "to") if not (form.get(name) or "").strip()]
        if missing or "text" not in form:
            raise InvalidInbound(f"missing {', '.join(missing or ['text'])}")
        provider_id = form["id"].strip()
        if len(provider_id) > 64:
            raise InvalidInbound("id is too long")
        return cls(
            provider_id=provider_id, from_phone=form["from"].strip()[:20],
            to_code=form["to"].strip()[:20], text=form["text"][:1000],
            link_id=(form.get("linkId") or None), network_code=(form.get("networkCode") or None),
            provider_date=(form.get("date") or None),
        )


def store_inbound(session: Session, form: InboundForm) -> InboundSms | None:
    """Store an inbound SMS and schedule its processing; None for a duplicate `id`."""
    sms = insert_once(session, InboundSms, dict(
        provider_id=form.provider_id, from_phone=form.from_phone, to_code=form.to_code,
        text=form.text, link_id=form.link_id, network_code=form.network_code,
        provider_date=form.provider_date, received_at=utcnow(),
    ), "provider_id")
    if sms is None:
        return None  # the same id arrived before (or at once): the other request stored it
    outbox.add(session, INBOUND_KIND, f"sms-inbound:{sms.id}", {"inbound_id": sms.id},
               queue="sms")
    return sms


def process_inbound(session: Session, inbound_id: int) -> str:
    """Carry out one stored SMS command; running it twice changes nothing."""
    sms = session.get(InboundSms, inbound_id)
    if sms is None or sms.processed_at is not None:
        return "skipped"
    sms.outcome = _process(session, sms)
    sms.processed_at = utcnow()
    return sms.outcome


def _process(session: Session, sms: InboundSms) -> str:
    try:
        phone = normalize_phone(sms.from_phone, runtime.current().settings.default_region)
    except InvalidPhoneNumber:
        return "bad_sender"
    command = parse_command(sms.text)
    if not _within_rate_limit(sms, phone):
        if command.kind in (STOP, START):
            _set_opt_out(session, phone, command.kind)  # honoured, just not answered
        logger.info("sms from %s over the rate limit; no reply", mask_phone(phone))
        return "rate_limited"
    if not _within_hourly_budget(sms):
        if command.kind in (STOP, START):
            _set_opt_out(session, phone, command.kind)
        return "over_budget"
    asked = Asked(phone, command, _find_member(session, phone, command), sms.provider_id)
    template, params, category = HANDLERS.get(command.kind, _unknown)(session, asked)
    language = asked.member.language if asked.member else (command.language or "en")
    message = queue_sms(session, phone, template, language, params,
                        key=f"reply:{sms.provider_id}", category=category)
    sms.reply_message_id = message.id if message is not None else None
    return command.kind


@dataclass(frozen=True)
class Asked:
    """One command from one phone, with the member it belongs to (if any)."""

    phone: str
    command: Command
    member: MemberInfo | None
    provider_id: str


Reply = tuple[str, dict[str, Any], str]
"""(template, params, category) of the answer."""


def _balance(session: Session, asked: Asked) -> Reply:
    if asked.member is None:
        return "unregistered_hint", {}, "transactional"
    params = member_lookup().balance_text_params(session, asked.member.id)
    if "balance" not in params:
        return "balance_no_loan", {"first_name": asked.member.first_name,
                                   "credit_limit": params["credit_limit"]}, "transactional"
    return "balance_reply", {
        "first_name": asked.member.first_name, "reference": params["loan_reference"],
        "balance": params["balance"], "next_amount": params["next_amount"],
        "next_date": params["next_date"],
    }, "transactional"


def _repay(session: Session, asked: Asked) -> Reply:
    if asked.member is None:
        return "unregistered_hint", {}, "transactional"
    if asked.command.amount_minor is None:
        return "repay_usage", {}, "transactional"
    try:
        member_lookup().request_repayment(
            session, asked.member.id, asked.command.amount_minor,
            idempotency_key=f"sms-repay:{asked.provider_id}",
        )
    except RepaymentRefused as refused:
        template = "repay_no_loan" if refused.reason == NO_ACTIVE_LOAN else "repay_refused"
        return template, {}, "transactional"
    amount = Money(asked.command.amount_minor, runtime.current().settings.currency)
    return "repay_requested", {"amount": amount}, "transactional"


def _stop(session: Session, asked: Asked) -> Reply:
    _set_opt_out(session, asked.phone, STOP)
    # The confirmation must reach someone who has just opted out: it is a legal notice.
    return "stop_confirmation", {}, LEGAL


def _start(session: Session, asked: Asked) -> Reply:
    _set_opt_out(session, asked.phone, START)
    return "start_confirmation", {}, "transactional"


def _help(session: Session, asked: Asked) -> Reply:
    return "help_reply", {}, "transactional"


def _unknown(session: Session, asked: Asked) -> Reply:
    if asked.member is None:
        return "unregistered_hint", {}, "transactional"
    return "unknown_command", {}, "transactional"


HANDLERS: dict[str, Callable[[Session, Asked], Reply]] = {
    BALANCE: _balance, REPAY: _repay, STOP: _stop, START: _start, HELP: _help,
}


def _set_opt_out(session: Session, phone: str, kind: str) -> None:
    if kind == STOP:
        optouts.opt_out(session, phone, optouts.STOP_KEYWORD)
    else:
        optouts.opt_in(session, phone)


def _find_member(session: Session, phone: str, command: Command) -> MemberInfo | None:
    """The sender's membership; STOP, START and HELP work even before lending is wired."""
    try:
        return member_lookup().find_member(session, phone)
    except PortNotConfigured:
        if command.kind in NEEDS_LENDING:
            raise TransientError("lending port not configured yet") from None
        return None


NEEDS_LENDING = frozenset({BALANCE, REPAY, UNKNOWN})


def _within_rate_limit(sms: InboundSms, phone: str) -> bool:
    """Whether this SMS is among the first RATE_LIMIT from `phone` in the sliding window.

    Members are the SMS ids, so a retried job counts its message once.
    """
    redis = runtime.current().redis
    key = f"sms:rate:{phone}"
    received = as_utc(sms.received_at).timestamp()
    window = RATE_WINDOW.total_seconds()
    pipe = redis.pipeline()
    pipe.zadd(key, {sms.provider_id: received}, nx=True)
    pipe.zremrangebyscore(key, "-inf", received - window)
    pipe.zcount(key, received - window, received)
    pipe.expire(key, int(window) + 60)
    _, _, count, _ = pipe.execute()
    return int(count) <= RATE_LIMIT


def _within_hourly_budget(sms: InboundSms) -> bool:
    """Whether this SMS is among the first SMS_REPLY_BUDGET_PER_HOUR answered this hour.

    Inbound SMS can be forged (the sender is whatever the request says) and each
    answer costs money: the budget bounds the bill of a flood from many numbers,
    which the per-phone limit cannot. Numbered by arrival, so a retried job keeps its place.
    """
    budget = runtime.current().settings.sms_reply_budget_per_hour
    redis = runtime.current().redis
    key = f"sms:reply-budget:{as_utc(sms.received_at).strftime('%Y%m%d%H')}"
    place = redis.hget(key, sms.provider_id)
    if place is None:
        # Numbered in the order they are first seen; a retried job finds its number again.
        redis.hsetnx(key, sms.provider_id, redis.hincrby(key, "#count", 1))
        redis.expire(key, 2 * 3600)
        place = redis.hget(key, sms.provider_id)
    number = int(place or 0)
    within = number <= budget
    if number == budget + 1:
        logger.warning("inbound SMS reply budget of %s for this hour spent; no more answers",
                       budget)
    return within


def process_inbound_item(session: Session, item: outbox.OutboxItem) -> None:
    """Process one stored inbound SMS (the outbox handler of INBOUND_KIND)."""
    process_inbound(session, int(item.payload["inbound_id"]))
