"""Held payouts: the queue of payouts waiting for an operator, and the decision on each.

A payout waits when it is above `PAYOUT_APPROVAL_THRESHOLD` or goes to a number
whose SIM was swapped recently. An operator with the approver role decides,
and never one who made the payout (who approved its loan): maker-checker.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from gateway.api.base import ApiError, bp, endpoint, json_body
from gateway.api.reconciliation import approving_actor
from gateway.database import get_session
from gateway.decisions import decide_payout
from gateway.ops.queries import HeldPayout, held_payouts
from payments.intents import PaymentError
from payments.models import PaymentIntent

assert bp  # the routes below register on the API blueprint

ROLES = ("operator",)
STATUS_FOR = {"no_such_payout": 404, "reason_required": 400}


def payout_json(intent: PaymentIntent, row: HeldPayout | None = None) -> dict[str, Any]:
    """A payout as the API shows it (no phone number)."""
    body: dict[str, Any] = {
        "id": intent.id, "kind": intent.kind, "status": intent.status, "amount": intent.amount,
        "currency": intent.currency, "member_id": intent.member_id, "loan_id": intent.loan_id,
        "held_because": intent.result_desc, "approved_by": intent.approved_by,
        "created_at": intent.created_at.isoformat()}
    if row is not None:
        body["loan_reference"] = row.loan.reference if row.loan else None
    return body


@endpoint("/payouts/held", "GET", summary="Payouts waiting for an operator", roles=ROLES,
          responses={200: "{items}"})
def payouts_held() -> Response:
    """Every held payout, oldest first."""
    return jsonify(items=[payout_json(row.intent, row) for row in held_payouts(get_session())])


def _decide(intent_id: int, decision: str, reason: str) -> Response:
    session, actor = get_session(), approving_actor()
    try:
        intent = decide_payout(session, intent_id,
                               "approve" if decision == "approve" else "decline",
                               actor=actor, reason=reason)
    except PaymentError as exc:
        session.rollback()
        raise ApiError(STATUS_FOR.get(exc.code, 409), exc.code, str(exc)) from None
    session.commit()
    return jsonify(payout_json(intent))


@endpoint("/payouts/<int:intent_id>/approve", "POST",
          summary="Approve a held payout (an approver who did not make it); it goes to M-Pesa",
          roles=ROLES,
          responses={200: "approved: the payout is sent", 403: "not an approver's key",
                     404: "no such payout",
                     409: "not waiting, or the person who made it (approved the loan)"})
def payouts_approve(intent_id: int) -> Response:
    """The checker's yes."""
    return _decide(intent_id, "approve", "")


@endpoint("/payouts/<int:intent_id>/decline", "POST",
          summary="Decline a held payout, saying why; the money goes back", roles=ROLES,
          body={"type": "object", "required": ["reason"], "additionalProperties": False,
                "properties": {"reason": {"type": "string", "minLength": 3, "maxLength": 300,
                                          "pattern": r"\S"}}},
          responses={200: "declined: the loan goes back to funded, a withdrawal to the wallet",
                     400: "no reason given", 403: "not an approver's key",
                     404: "no such payout",
                     409: "not waiting, or the person who made it (approved the loan)"})
def payouts_decline(intent_id: int) -> Response:
    """The checker's no."""
    body = json_body()
    unknown = set(body) - {"reason"}
    if unknown:
        raise ApiError(400, "invalid_request", "unknown field", sorted(unknown)[0])
    reason = body.get("reason")
    if not isinstance(reason, str) or len(reason.strip()) < 3:
        raise ApiError(400, "reason_required", "say why the payout is stopped", "reason")
    return _decide(intent_id, "decline", reason.strip()[:300])
