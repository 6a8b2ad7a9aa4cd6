"""Savings by SMS: `AKIBA`/`SAVE` answers the saver's balance, `CHAMA` their chama statement.

Registered into messaging's inbound command table by `install()`, which
`gateway.wiring.wire()` calls in every process.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.money import Money
from lending.models import Member
from messaging import inbound
from messaging.keywords import CHAMA, SAVINGS
from messaging.outbound import queue_sms
from savings import accounts, chamas
from savings.errors import SavingsError

Reply = tuple[str, dict[str, Any], str]


def _balance(session: Session, asked: inbound.Asked) -> Reply:
    if asked.member is None:
        return "unregistered_hint", {}, "transactional"
    try:
        views = accounts.member_accounts(session, asked.member.id)
    except SavingsError:
        return "unknown_command", {}, "transactional"
    currency = views[0].currency
    return "savings_balance_reply", {
        "first_name": asked.member.first_name,
        "total": Money(sum(v.balance for v in views), currency),
        "goals": sum(1 for v in views if v.kind == "goal"),
    }, "transactional"


def _chama(session: Session, asked: inbound.Asked) -> Reply:
    if asked.member is None:
        return "unregistered_hint", {}, "transactional"
    groups = chamas.chamas_of(session, asked.member.id)
    if not groups:
        return "chama_none", {"first_name": asked.member.first_name}, "transactional"
    return chama_statement_params(session, groups[0].id, asked.member.id)


def chama_statement_params(session: Session, chama_id: int, member_id: int) -> Reply:
    """The chama statement SMS for one member: round, pot, who is paid next, what they paid."""
    chama = accounts.membership(session, chama_id, member_id).chama
    view = chamas.summary(session, chama)
    return "chama_statement", {
        "chama": view.name, "round": view.round, "pot": Money(view.pot, view.currency),
        "recipient": ", ".join(view.next_recipients) or "-", "date": view.round_ends,
        "paid": Money(chamas.contributed(session, chama.id, member_id, view.round),
                      view.currency),
        "total": Money(chamas.contributed(session, chama.id, member_id), view.currency),
    }, "transactional"


def install() -> None:
    inbound.HANDLERS[SAVINGS] = _balance
    inbound.HANDLERS[CHAMA] = _chama



def send_chama_statement(session: Session, chama_id: int, member_id: int, key: str) -> None:
    """Queue the chama statement SMS to the member's own phone (once per key)."""
    member = session.get(Member, member_id)
    if member is None:
        raise SavingsError("unknown_member", f"no member {member_id}")
    template, params, category = chama_statement_params(session, chama_id, member_id)
    queue_sms(session, member.phone, template, member.language, params, key, category=category)

