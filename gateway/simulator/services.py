"""What the simulator page reads and does, kept out of the views."""

from __future__ import annotations

import importlib
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
from payments.providers import simswap


def phone_arg(raw: str) -> str | None:
    try:
        return normalize_phone(raw, current().settings.default_region)
    except InvalidPhoneNumber:
        return None


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        return None


def demo_phones(session: Session) -> list[dict[str, Any]]:
    """Members to switch between, and a fresh number that nobody has registered."""
    models = _optional("lending.models")
    phones: list[dict[str, Any]] = []
    if models is not None:
        members = session.scalars(select(models.Member).order_by(models.Member.id).limit(12))
        for member in members:
            role = "lender" if member.is_lender and not _has_loan(session, member.id) else (
                "borrower")
            phones.append({"phone": member.phone, "label": f"{member.first_name} ({role})"})
    fresh = f"+2547{secrets.randbelow(10**8):08d}"
    phones.append({"phone": fresh, "label": "New number"})
    return phones


def _has_loan(session: Session, member_id: int) -> bool:
    from lending.models import Loan

    return session.scalar(select(Loan.id).where(Loan.borrower_id == member_id).limit(1)) is not None


def inbox(session: Session, phone: str) -> list[dict[str, Any]]:
    outbound = _optional("messaging.outbound")
    if outbound is None:
        return []
    return [
        {"id": m.id, "body": m.body, "status": m.status, "at": m.created_at.isoformat()}
        for m in outbound.inbox(session, phone, limit=20)
    ]


def pending_prompts(phone: str) -> list[dict[str, Any]]:
    simulator = _optional("payments.providers.simulator")
    if simulator is None:
        return []
    return [_prompt_json(p) for p in simulator.pending_prompts(phone)]


def _prompt_json(prompt: Any) -> dict[str, Any]:
    if isinstance(prompt, dict):
        return prompt
    return {"id": str(prompt.id), "amount": prompt.amount,
            "account": getattr(prompt, "reference", "") or getattr(prompt, "account", ""),
            "business": getattr(prompt, "business", "Mkopo")}


def answer_prompt(prompt_id: str, pin: str | None) -> bool:
    simulator = _optional("payments.providers.simulator")
    if simulator is None:
        return False
    return bool(simulator.answer_prompt(prompt_id, pin))


def pay_bill(phone: str, amount: int, account: str) -> None:
    simulator = _optional("payments.providers.simulator")
    if simulator is not None:
        simulator.simulate_paybill_payment(phone, amount, account)


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
    models = _optional("payments.models")
    if models is None or not hasattr(models, "CallbackInbox"):
        return []
    inbox_model = models.CallbackInbox
    rows = session.scalars(select(inbox_model).order_by(inbox_model.id.desc()).limit(limit))
    return [{"at": r.received_at.isoformat(), "type": "callback",
             "text": f"M-Pesa {r.kind} → {r.status}"} for r in rows]


def _sms_events(session: Session, limit: int) -> list[dict[str, Any]]:
    models = _optional("messaging.models")
    if models is None:
        return []
    sms = models.SmsMessage
    rows = session.scalars(select(sms).order_by(sms.id.desc()).limit(limit))
    return [{"at": r.created_at.isoformat(), "type": "sms",
             "text": f"SMS {r.template} → {r.status}"} for r in rows]


def report_sim_swap(phone: str, days_ago: int) -> None:
    """Make the simulated telco report a SIM swap on `phone`: payouts to it will be held."""
    simswap.report_swap(phone, utcnow() - timedelta(days=days_ago))
