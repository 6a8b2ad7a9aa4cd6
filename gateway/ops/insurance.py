"""Console: the insurance pool and its loss ratio, policies, claims and their decisions.

Field-partner operators see their own borrowers' cover and may file claims for
them; deciding a claim is for an approver of the platform, never the person who
filed it (the domain enforces that, whatever the role).
"""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from gateway.database import get_session
from gateway.ops.blueprint import bp
from gateway.ops.console_login import console_actor, current_operator, is_partner_operator, requires
from gateway.ops_models import audit
from insurance import claims
from insurance.errors import InsuranceError
from insurance.models import CAUSES, Claim
from insurance.policies import shown_status
from insurance.queries import (
    list_claims,
    list_policies,
    loan_reference,
    member_names,
    visible_policy,
)
from insurance.reports import pool_summary
from payments.intents import PaymentError

PAGE_SIZE = 50
ALL_CAUSES = sorted({cause for causes in CAUSES.values() for cause in causes})


def _partner() -> int | None:
    return current_operator().field_partner_id


def _offset() -> int:
    raw = request.args.get("offset", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 0


@bp.get("/insurance")
@requires("viewer", partners=True)
def insurance() -> str:
    """The pool, the claims waiting for a decision, recent claims and the policies."""
    session, partner = get_session(), _partner()
    waiting, waiting_total = list_claims(session, partner_id=partner, status="filed",
                                         limit=PAGE_SIZE)
    recent, _ = list_claims(session, partner_id=partner, limit=20)
    offset = _offset()
    policies, total = list_policies(session, partner_id=partner, limit=PAGE_SIZE,
                                    offset=offset)
    references = {p.id: loan_reference(session, p) for p in policies}
    statuses = {p.id: shown_status(session, p) for p in policies}
    names = member_names(session, {c.member_id for c in (*waiting, *recent)}
                         | {p.member_id for p in policies})
    return render_template(
        "ops/insurance.html", summary=None if is_partner_operator() else pool_summary(session),
        waiting=waiting, waiting_total=waiting_total, recent=recent, policies=policies,
        references=references, statuses=statuses, names=names, total=total, offset=offset,
        page_size=PAGE_SIZE,
        causes=ALL_CAUSES, me=console_actor().key)


@bp.post("/insurance/claims")
@requires("reconciler", partners=True)
def insurance_file() -> WerkzeugResponse:
    """File a claim for a member (a partner's officer, or an operator on their behalf)."""
    session = get_session()
    form = request.form
    policy_id = _number(form.get("policy_id", ""))
    nights = _number(form.get("nights", "") or "0")
    try:
        event_date = date.fromisoformat(form.get("event_date", ""))
    except ValueError:
        event_date = None
    if policy_id is None or nights is None or event_date is None or (
            visible_policy(session, policy_id, _partner()) is None):
        flash("Give a policy you can see, a date (YYYY-MM-DD) and, for hospital cash, "
              "the nights.", "error")
        return redirect(url_for("ops.insurance"))
    actor = console_actor()
    try:
        claim = claims.file_claim(
            session, policy_id=policy_id, cause=form.get("cause", ""), event_date=event_date,
            nights=nights, filed_by=actor.key, channel="console",
            idempotency_key=f"console:{actor.key}:{form.get('nonce', '')[:40]}")
    except InsuranceError as exc:
        session.rollback()
        flash(f"Policy {policy_id}: {exc.message}", "error")
        return redirect(url_for("ops.insurance"))
    audit(session, actor=str(actor), action="insurance.claim_filed", subject_type="claim",
          subject_id=claim.id, after={"policy_id": policy_id, "cause": claim.cause})
    session.commit()
    flash(f"Claim {claim.id} filed; another person decides it.", "ok")
    return redirect(url_for("ops.insurance"))


def _number(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None


@bp.post("/insurance/claims/<int:claim_id>/<decision>")
@requires("approver")
def insurance_decide(claim_id: int, decision: str) -> WerkzeugResponse:
    """Approve (paid at once) or reject a claim, or retry a failed benefit payout."""
    session, actor = get_session(), console_actor()
    if decision not in ("approve", "reject", "retry") or session.get(Claim, claim_id) is None:
        abort(404)
    reason = request.form.get("reason", "").strip()[:300]
    try:
        if decision == "approve":
            claim = claims.approve_claim(session, claim_id, actor=actor.key, reason=reason)
        elif decision == "reject":
            claim = claims.reject_claim(session, claim_id, actor=actor.key, reason=reason)
        else:
            claim = claims.retry_payout(session, claim_id, actor=actor.key)
    except (InsuranceError, PaymentError) as exc:
        session.rollback()
        flash(f"Claim {claim_id}: {getattr(exc, 'message', str(exc))}", "error")
        return redirect(url_for("ops.insurance"))
    audit(session, actor=str(actor), action=f"insurance.claim_{decision}", subject_type="claim",
          subject_id=claim.id, after={"status": claim.status, "amount": claim.amount})
    session.commit()
    flash(f"Claim {claim.id}: {claim.status}.", "ok")
    return redirect(url_for("ops.insurance"))
