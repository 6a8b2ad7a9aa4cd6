"""Reconciliation breaks: the queue, resolving, and the second person's decision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Response, jsonify

from gateway.api.base import ApiError, bp, choice_arg, endpoint, json_body, page_args, query
from gateway.api_keys import caller_actor, caller_operator, current_caller
from gateway.database import get_session
from gateway.operators import operator_actor
from gateway.ops_models import audit
from lending.queries import loan_by_reference
from payments.models import BREAK_STATUSES, ReconciliationBreak
from reconciliation import resolutions
from reconciliation.resolutions import ACTIONS, Actor, Outcome, PendingAction, ResolutionError

assert bp  # the routes below register on the API blueprint

ROLES = ("operator",)


def api_actor() -> Actor:
    """The person behind the calling key (its operator), for audit and maker-checker."""
    return caller_actor(get_session(), current_caller())


def approving_actor() -> Actor:
    """The caller as a checker: an operator with the approver role, or a 403."""
    operator = caller_operator(get_session(), current_caller())
    if operator is None or not operator.may("approver"):
        raise ApiError(403, "forbidden",
                       "Approving needs the key of an operator with the approver role.")
    return operator_actor(operator)


@contextmanager
def resolution_refusals() -> Iterator[None]:
    """404 for what does not exist, 400 for bad input, 409 for everything else."""
    try:
        yield
    except ResolutionError as exc:
        status = 404 if exc.code in resolutions.NOT_FOUND_CODES else (
            400 if exc.field else 409)
        raise ApiError(status, exc.code, exc.message, exc.field) from None


def break_json(item: ReconciliationBreak) -> dict[str, Any]:
    """A break as the API shows it (phones as the statement shows them: masked)."""
    return {
        "id": item.id, "type": item.type, "status": item.status, "amount": item.amount,
        "currency": item.currency, "receipt": item.receipt, "intent_id": item.intent_id,
        "inbox_id": item.inbox_id, "loan_id": item.loan_id,
        "journal_entry_id": item.journal_entry_id, "details": item.details,
        "created_at": item.created_at.isoformat(),
        "resolved_at": item.resolved_at.isoformat() if item.resolved_at else None,
        "resolved_by": item.resolved_by, "resolution": item.resolution,
        "allowed_actions": list(resolutions.allowed_actions(item)),
    }


def action_json(pending: PendingAction) -> dict[str, Any]:
    return {"id": pending.id, "break_id": pending.break_id, "action": pending.action,
            "amount": pending.amount, "params": pending.params, "reason": pending.reason,
            "status": pending.status, "maker": pending.maker, "checker": pending.checker,
            "created_at": pending.created_at.isoformat()}


def outcome_response(outcome: Outcome) -> tuple[Response, int]:
    body = {"status": outcome.status, "detail": outcome.detail, "break": break_json(outcome.item),
            "pending_action": action_json(outcome.pending) if outcome.pending else None}
    return jsonify(body), 202 if outcome.pending else 200


@endpoint("/reconciliation/breaks", "GET", summary="List reconciliation breaks", roles=ROLES,
          parameters=[query("status", "open (default), resolved or dismissed",
                            {"type": "string", "enum": list(BREAK_STATUSES)}),
                      query("type", "only breaks of this type",
                            {"type": "string", "enum": list(resolutions.KNOWN_TYPES)}),
                      query("limit", "page size (1-200)", {"type": "integer"}),
                      query("offset", "items to skip", {"type": "integer"})],
          responses={200: "{items, total, limit, offset, next_offset}"})
def breaks_list() -> Response:
    """Breaks by status and type, oldest first."""
    page = page_args()
    flt = resolutions.BreakFilter(status=choice_arg("status", BREAK_STATUSES, "open"),
                                  type=choice_arg("type", resolutions.KNOWN_TYPES))
    items, total = resolutions.list_breaks(get_session(), flt, limit=page.limit,
                                           offset=page.offset)
    return jsonify(page.wrap([break_json(item) for item in items], total))


@endpoint("/reconciliation/breaks/<int:break_id>", "GET", summary="One break", roles=ROLES,
          responses={200: "the break and its pending actions", 404: "no such break"})
def breaks_show(break_id: int) -> Response:
    """A break, what may be done with it, and any action awaiting approval."""
    session = get_session()
    with resolution_refusals():
        item = resolutions.get_break(session, break_id)
    body = break_json(item)
    body["actions"] = [action_json(a) for a in resolutions.actions_for(session, break_id)]
    return jsonify(body)


REASON = {"type": "string", "minLength": 3, "pattern": r"\S[\s\S]+\S",
          "description": "why, at least three characters besides spaces"}
RESOLVE_FIELDS = frozenset({"action", "reason", "loan_id", "loan_reference"})
RESOLVE_BODY: dict[str, Any] = {
    "type": "object", "required": ["action", "reason"], "additionalProperties": False,
    "properties": {
        "action": {"type": "string", "enum": list(ACTIONS)},
        "reason": REASON,
        "loan_id": {"type": "integer", "description": "for assign: the loan the money repays"},
        "loan_reference": {"type": "string", "minLength": 1, "maxLength": 40,
                           "description": "for assign: the loan's reference (instead of "
                                          "loan_id), as the borrower knows it"},
    },
}


@endpoint("/reconciliation/breaks/<int:break_id>/resolve", "POST",
          summary="Resolve a break: assign to a loan, refund, write off or dismiss",
          roles=ROLES, body=RESOLVE_BODY,
          responses={200: "resolved", 202: "waiting for a second person (maker-checker)",
                     404: "no such break or loan", 409: "closed, not allowed, or pending"})
def breaks_resolve(break_id: int) -> tuple[Response, int]:
    """Carry out a resolution, or queue it for approval when it moves big money."""
    body = json_body()
    unknown = set(body) - RESOLVE_FIELDS
    if unknown:
        raise ApiError(400, "invalid_request", "unknown field", sorted(unknown)[0])
    action = body.get("action")
    if action not in ACTIONS:
        raise ApiError(400, "invalid_request", f"action must be one of {', '.join(ACTIONS)}",
                       "action")
    loan_id = body.get("loan_id")
    if loan_id is not None and (not isinstance(loan_id, int) or isinstance(loan_id, bool)):
        raise ApiError(400, "invalid_request", "loan_id must be an integer", "loan_id")
    session = get_session()
    reference = body.get("loan_reference")
    if reference is not None:
        if loan_id is not None or not isinstance(reference, str) or not reference.strip():
            raise ApiError(400, "invalid_request",
                           "loan_reference must be a reference, and not sent with loan_id",
                           "loan_reference")
        loan = loan_by_reference(session, reference[:40], schedule=False)
        if loan is None:
            raise ApiError(404, "unknown_loan", f"no loan {reference[:40]}", "loan_reference")
        loan_id = loan.id
    with resolution_refusals():
        outcome = resolutions.resolve(session, break_id, action, actor=api_actor(),
                                      reason=str(body.get("reason") or ""), loan_id=loan_id,
                                      audit=audit)
    session.commit()
    return outcome_response(outcome)


@endpoint("/reconciliation/actions", "GET", summary="Actions waiting for a second person",
          roles=ROLES, responses={200: "{items}"})
def actions_pending() -> Response:
    """Every pending maker-checker action, oldest first."""
    return jsonify(items=[action_json(a) for a in resolutions.pending_actions(get_session())])


@endpoint("/reconciliation/actions/<int:action_id>/approve", "POST",
          summary="Approve a pending action (an approver other than the person who asked)",
          roles=ROLES,
          responses={200: "approved and carried out", 403: "not an approver's key",
                     404: "no such action",
                     409: "decided already, or the same person that asked"})
def actions_approve(action_id: int) -> tuple[Response, int]:
    """The checker's yes: the action runs now."""
    session, actor = get_session(), approving_actor()
    with resolution_refusals():
        outcome = resolutions.approve(session, action_id, actor=actor, audit=audit)
    session.commit()
    return outcome_response(outcome)


@endpoint("/reconciliation/actions/<int:action_id>/reject", "POST",
          summary="Refuse a pending action, saying why", roles=ROLES,
          body={"type": "object", "required": ["reason"],
                "properties": {"reason": REASON}},
          responses={200: "refused; the break stays open", 403: "not an approver's key",
                     404: "no such action",
                     409: "decided already, or the same person that asked"})
def actions_reject(action_id: int) -> Response:
    """The checker's no."""
    reason = json_body().get("reason")
    session, actor = get_session(), approving_actor()
    with resolution_refusals():
        pending = resolutions.reject(session, action_id, actor=actor, audit=audit,
                                     reason=reason if isinstance(reason, str) else "")
    session.commit()
    return jsonify(action_json(pending))

