"""Decisions people take on applications, registrations and held payouts, console and API alike.

Each one runs the lending service and writes its audit entry in the caller's
transaction, so a decision is never recorded without its trail, or the other
way round. Refusals (`LendingError`) are left for the caller to present.
"""

from __future__ import annotations

import re
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.ops_models import AuditEntry, audit
from lending import applications, members
from lending.errors import LendingError
from lending.models import APPROVED, Loan, LoanTransition, Member
from payments import intents
from payments.intents import PaymentError
from payments.models import WITHDRAWAL, PaymentIntent
from reconciliation.resolutions import Actor

Decision = Literal["approve", "reject"]


def decide_application(session: Session, loan: Loan, decision: Decision, *, actor: str,
                       reason: str = "") -> Loan:
    """Approve or reject a pending application and audit it; the caller commits."""
    before = {"status": loan.status}
    if decision == "approve":
        decided = applications.approve_loan(session, loan.id, actor=actor)
    else:
        decided = applications.reject_loan(session, loan.id, actor=actor, reason=reason)
    audit(session, actor=actor, action=f"loan.{decision}", subject_type="loan",
          subject_id=decided.id, reason=reason, before=before, after={"status": decided.status})
    return decided


# --- registrations ---------------------------------------------------------------------------

MemberDecision = Literal["verify", "reject"]


def decide_member(session: Session, member_id: int, decision: MemberDecision, *, actor: str,
                  field_partner_id: int | None, reason: str = "") -> Member:
    """Verify or refuse a registration, audit it and SMS the member; the caller commits.

    Verifying needs the field partner that vouches for the member; refusing
    needs a reason, which the audit keeps (the member's SMS says only the outcome).
    """
    member = members.get_member(session, member_id)
    before = {"status": member.status, "field_partner_id": member.field_partner_id}
    if decision == "verify":
        if field_partner_id is None:
            raise LendingError("field_partner_required", "say which field partner vouches")
        members.confirm_registration(session, member_id, field_partner_id, actor)
    else:
        members.reject_registration(session, member_id, actor, reason)
    audit(session, actor=actor, action=f"member.{decision}", subject_type="member",
          subject_id=member.id, reason=reason.strip()[:1000], before=before,
          after={"status": member.status, "field_partner_id": member.field_partner_id})
    return member


def unlock_member_pin(session: Session, member_id: int, *, actor: str, reason: str) -> Member:
    """Lift a member's PIN lock, audited with how the member was identified; SMS the member.

    Refused (`pin_not_locked`) when the PIN is not locked; the caller commits.
    """
    if len(reason.strip()) < 3:
        raise LendingError("reason_required", "say how you identified the member")
    member = members.get_member(session, member_id)
    before = _pin_state(member)
    members.unlock_pin(session, member_id, actor)
    audit(session, actor=actor, action="member.pin_unlock", subject_type="member",
          subject_id=member.id, reason=reason.strip()[:1000], before=before,
          after=_pin_state(member))
    return member


def _pin_state(member: Member) -> dict[str, object]:
    until = member.pin_locked_until
    return {"pin_locked_until": until.isoformat() if until else None,
            "pin_lock_level": member.pin_lock_level}


# --- held payouts ----------------------------------------------------------------------------

PayoutDecision = Literal["approve", "decline"]
_PERSON_KEY = re.compile(r"\[([a-z_-]+:\d+)\]")
"""Actors are written "label [key]" (`reconciliation.resolutions.Actor`): the key is the person."""


def payout_makers(session: Session, intent: PaymentIntent) -> set[str]:
    """The people who made a payout: who approved its loan, or the member who withdraws."""
    makers: set[str] = set()
    if intent.kind == WITHDRAWAL and intent.member_id is not None:
        makers.add(f"member:{intent.member_id}")
    if intent.loan_id is not None:
        actors = list(session.scalars(select(LoanTransition.actor).where(
            LoanTransition.loan_id == intent.loan_id, LoanTransition.to_status == APPROVED)))
        # The audit keeps the actor in full; the transition's copy may be cut at 80 characters.
        actors += session.scalars(select(AuditEntry.actor).where(
            AuditEntry.subject_type == "loan", AuditEntry.subject_id == str(intent.loan_id),
            AuditEntry.action == "loan.approve"))
        for actor in actors:
            makers.update(_PERSON_KEY.findall(actor))
    return makers


def decide_payout(session: Session, intent_id: int, decision: PayoutDecision, *,
                  actor: Actor, reason: str = "") -> PaymentIntent:
    """Let a held payout go, or stop it; never by a person who made it. The caller commits."""
    intent = session.get(PaymentIntent, intent_id)
    if intent is None:
        raise PaymentError("no_such_payout", f"no payout {intent_id}")
    if actor.key in payout_makers(session, intent):
        raise PaymentError("same_person", "a different person must decide this payout")
    before = {"status": intent.status, "held_because": intent.result_desc}
    if decision == "approve":
        intents.approve_payout(session, intent_id, str(actor))
    else:
        if len(reason.strip()) < 3:
            raise PaymentError("reason_required", "say why the payout is stopped")
        intents.reject_payout(session, intent_id, str(actor), reason.strip())
    audit(session, actor=str(actor), action=f"payout.{decision}", subject_type="payment_intent",
          subject_id=intent_id, reason=reason.strip()[:1000], before=before,
          after={"status": intent.status})
    return intent
