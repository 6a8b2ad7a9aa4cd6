"""Console pages for decisions about people and their money: registrations and held payouts.

A field partner's operators verify or refuse registrations (platform operators
too, naming the partner who vouches). Held payouts are decided by an approver
who did not make them (maker-checker, `gateway.decisions.decide_payout`).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from core.clock import utcnow
from gateway.database import get_session
from gateway.decisions import decide_member, decide_payout, unlock_member_pin
from gateway.ops import queries
from gateway.ops.blueprint import bp
from gateway.ops.console_login import console_actor, current_operator, requires
from gateway.ops.views import PAGE_SIZE, _int, _scope
from lending.errors import LendingError
from lending.models import MEMBER_ACTIVE, MEMBER_REJECTED, PENDING_VERIFICATION, SUSPENDED
from payments.intents import PaymentError

MEMBER_STATUSES = (PENDING_VERIFICATION, MEMBER_ACTIVE, MEMBER_REJECTED, SUSPENDED)


@bp.get("/members")
@requires("approver", partners=True)
def members_list() -> str:
    """Registrations waiting for verification (or members of another status)."""
    status = request.args.get("status", PENDING_VERIFICATION)
    status = status if status in MEMBER_STATUSES else PENDING_VERIFICATION
    offset = _int("offset")
    items, total = queries.list_members(get_session(), _scope(), status=status,
                                        limit=PAGE_SIZE, offset=offset)
    return render_template("ops/members.html", items=items, total=total, status=status,
                           statuses=MEMBER_STATUSES, offset=offset, page_size=PAGE_SIZE)


@bp.get("/members/<int:member_id>")
@requires("approver", partners=True)
def member_detail(member_id: int) -> str:
    """A member: who they are, their status, the decisions open to you, the audit trail."""
    session = get_session()
    member = queries.find_member(session, _scope(), member_id)
    if member is None:
        abort(404)
    locked = member.pin_locked_until is not None and member.pin_locked_until > utcnow()
    return render_template("ops/member.html", member=member, pin_locked=locked,
                           partners=queries.field_partners(session),
                           trail=queries.audit_for(session, "member", member_id))


@bp.post("/members/<int:member_id>/<decision>")
@requires("approver", partners=True)
def member_decide(member_id: int, decision: str) -> WerkzeugResponse:
    """Verify (vouched for by a field partner) or refuse (with a reason) a registration."""
    session = get_session()
    member = queries.find_member(session, _scope(), member_id)
    if member is None or decision not in ("verify", "reject"):
        abort(404)
    # A partner's operator always vouches for their own partner; others name one.
    partner_id = current_operator().field_partner_id or (_int("field_partner_id") or None)
    try:
        decide_member(session, member_id, "verify" if decision == "verify" else "reject",
                      actor=str(console_actor()), field_partner_id=partner_id,
                      reason=request.form.get("reason", "")[:1000])
    except LendingError as exc:
        session.rollback()
        flash(f"Member {member_id}: {exc.message}", "error")
        return redirect(url_for("ops.member_detail", member_id=member_id))
    session.commit()
    flash(f"{member.first_name}'s registration {'verified' if decision == 'verify' else 'refused'}"
          "; an SMS tells them.", "ok")
    return redirect(url_for("ops.member_detail", member_id=member_id))


@bp.get("/pin-locks")
@requires("approver", partners=True)
def pin_locks() -> str:
    """Members whose PIN is locked; unlock one once you have met or called them."""
    offset = _int("offset")
    items, total = queries.list_pin_locked(get_session(), _scope(), utcnow(), limit=PAGE_SIZE,
                                           offset=offset)
    return render_template("ops/pin_locks.html", items=items, total=total, offset=offset,
                           page_size=PAGE_SIZE)


@bp.post("/members/<int:member_id>/pin-unlock")
@requires("approver", partners=True)
def member_pin_unlock(member_id: int) -> WerkzeugResponse:
    """Lift a PIN lock (audited, with how the member was identified); the member gets an SMS."""
    session = get_session()
    member = queries.find_member(session, _scope(), member_id)
    if member is None:
        abort(404)
    back = url_for("ops.pin_locks") if request.form.get("back") == "list" else url_for(
        "ops.member_detail", member_id=member_id, _anchor="pin")
    try:
        unlock_member_pin(session, member_id, actor=str(console_actor()),
                          reason=request.form.get("reason", "")[:1000])
    except LendingError as exc:
        session.rollback()
        flash(f"Member {member_id}: {exc.message}", "error")
        return redirect(back)
    session.commit()
    flash(f"{member.first_name}'s PIN is unlocked; an SMS tells them.", "ok")
    return redirect(back)


@bp.get("/payouts")
@requires("approver")
def payouts_list() -> str:
    """Payouts waiting for an operator: above the approval threshold, or a fresh SIM swap."""
    return render_template("ops/payouts.html", items=queries.held_payouts(get_session()))


@bp.post("/payouts/<int:intent_id>/<decision>")
@requires("approver")
def payout_decide(intent_id: int, decision: str) -> WerkzeugResponse:
    """Approve (the payout goes to M-Pesa) or decline (the money goes back), not your own."""
    if decision not in ("approve", "decline"):
        abort(404)
    session = get_session()
    try:
        decide_payout(session, intent_id, "approve" if decision == "approve" else "decline",
                      actor=console_actor(), reason=request.form.get("reason", "")[:1000])
    except (PaymentError, LookupError) as exc:
        session.rollback()
        flash(f"Payout {intent_id}: {_refusal(exc)}", "error")
        return redirect(url_for("ops.payouts_list"))
    session.commit()
    flash(f"Payout {intent_id} {decision}d.", "ok")
    return redirect(url_for("ops.payouts_list"))


def _refusal(exc: Exception) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if isinstance(exc, PaymentError) and ": " in text else text
