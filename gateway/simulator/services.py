"""What the simulator page reads and does, kept out of the views."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.money import format_money
from core.outbox import OutboxItem
from core.phones import InvalidPhoneNumber, normalize_phone
from core.runtime import current
from ledger import JournalEntry
from lending.models import Loan, Member
from messaging import outbound
from messaging.models import SmsMessage
from payments.models import CallbackInbox
from payments.providers import simswap
from payments.providers import simulator as mpesa_simulator


def phone_arg(raw: str) -> str | None:
    try:
        return normalize_phone(raw, current().settings.default_region)
    except InvalidPhoneNumber:
        return None


def demo_phones(session: Session) -> list[dict[str, Any]]:
    """Members to switch between, and a fresh number that nobody has registered."""
    phones: list[dict[str, Any]] = []
    for member in session.scalars(select(Member).order_by(Member.id).limit(12)):
        role = "lender" if member.is_lender and not _has_loan(session, member.id) else (
            "borrower")
        phones.append({"phone": member.phone, "label": f"{member.first_name} ({role})"})
    fresh = f"+2547{secrets.randbelow(10**8):08d}"
    phones.append({"phone": fresh, "label": "New number"})
    return phones


def _has_loan(session: Session, member_id: int) -> bool:
    return session.scalar(select(Loan.id).where(Loan.borrower_id == member_id).limit(1)) is not None


def inbox(session: Session, phone: str) -> list[dict[str, Any]]:
    return [
        {"id": m.id, "body": m.body, "status": m.status, "at": m.created_at.isoformat()}
        for m in outbound.inbox(session, phone, limit=20)
    ]


def pending_prompts(phone: str) -> list[dict[str, Any]]:
    return [_prompt_json(p) for p in mpesa_simulator.pending_prompts(phone)]


def _prompt_json(prompt: Any) -> dict[str, Any]:
    if isinstance(prompt, dict):
        return prompt
    return {"id": str(prompt.id), "amount": prompt.amount,
            "account": getattr(prompt, "reference", "") or getattr(prompt, "account", ""),
            "business": getattr(prompt, "business", "Mkopo")}


def answer_prompt(prompt_id: str, pin: str | None) -> bool:
    return bool(mpesa_simulator.answer_prompt(prompt_id, pin))


def pay_bill(phone: str, amount: int, account: str) -> None:
    mpesa_simulator.simulate_paybill_payment(phone, amount, account)


def timeline(session: Session, limit: int = 40) -> list[dict[str, Any]]:
    """The latest callbacks, outbox items, ledger entries and SMS, newest first."""
    events: list[dict[str, Any]] = []
    for item in session.scalars(select(OutboxItem).order_by(OutboxItem.id.desc()).limit(limit)):
        events.append({"at": item.created_at.isoformat(), "type": "job",
                       "text": f"{item.kind} → {item.status}"})
    for entry in session.scalars(
        select(JournalEntry).order_by(JournalEntry.id.desc()).limit(limit)
    ):
        amount = entry.meta.get("amount")
        if not isinstance(amount, int):  # entries without a headline amount: their size
            amount = sum(p.amount for p in entry.postings if p.amount > 0)
        events.append({"at": entry.created_at.isoformat(), "type": "ledger",
                       "text": f"{entry.kind}: {format_money(amount)}"})
    events.extend(_inbox_events(session, limit))
    events.extend(_sms_events(session, limit))
    events.sort(key=lambda e: e["at"], reverse=True)
    return events[:limit]


def _inbox_events(session: Session, limit: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(CallbackInbox).order_by(CallbackInbox.id.desc()).limit(limit))
    return [{"at": r.received_at.isoformat(), "type": "callback",
             "text": f"M-Pesa {r.kind} → {r.status}"} for r in rows]


def _sms_events(session: Session, limit: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(SmsMessage).order_by(SmsMessage.id.desc()).limit(limit))
    return [{"at": r.created_at.isoformat(), "type": "sms",
             "text": f"SMS {r.template} → {r.status}"} for r in rows]


def report_sim_swap(phone: str, days_ago: int) -> None:
    """Make the simulated telco report a SIM swap on `phone`: payouts to it will be held."""
    simswap.report_swap(phone, utcnow() - timedelta(days=days_ago))
