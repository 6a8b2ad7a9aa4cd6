"""Insurance: policies, claims (filed by a partner or operator, decided by an operator), the pool.

A field-partner key sees and files claims only for its own borrowers; anything
else answers 404, exactly as a policy or claim that does not exist. Deciding a
claim is an operator's; the key that filed a claim cannot decide it
(maker-checker, enforced by the domain).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, jsonify
from sqlalchemy import select

from gateway.api.base import ApiError, bp, choice_arg, endpoint, json_body, page_args, query
from gateway.api.loans import caller_label
from gateway.api_keys import Caller, current_caller
from gateway.database import get_session
from insurance import capital, claims
from insurance.errors import InsuranceError
from insurance.models import CAUSES, CLAIM_STATUSES, POLICY_KINDS, Claim
from insurance.queries import (
    claim_json,
    list_claims,
    list_policies,
    policy_json,
    visible_claim,
    visible_policy,
)
from insurance.reports import pool_summary
from payments.intents import PaymentError

assert bp  # the routes below register on the API blueprint

ROLES = ("operator", "field_partner")
OPERATOR = ("operator",)
ALL_CAUSES = sorted({cause for causes in CAUSES.values() for cause in causes})
STATUS_BY_CODE = {"unknown_policy": 404, "unknown_claim": 404, "same_person": 403}

CLAIM_BODY: dict[str, Any] = {
    "type": "object", "required": ["policy_id", "cause", "event_date", "idempotency_key"],
    "additionalProperties": False,
    "properties": {
        "policy_id": {"type": "integer", "minimum": 1, "maximum": 2**62 - 1},
        "cause": {"type": "string", "enum": ALL_CAUSES,
                  "description": "credit_life: death or disability; hospital_cash: hospital"},
        "event_date": {"type": "string", "format": "date",
                       "description": "the death, disability, or the hospital admission"},
        "nights": {"type": "integer", "minimum": 1, "maximum": 2**62 - 1,
                   "description": "nights in hospital (hospital_cash only)"},
        "idempotency_key": {"type": "string", "maxLength": 100,
                            "description": "the same key again returns the same claim"},
    },
}
REASON_BODY: dict[str, Any] = {"type": "object", "properties": {
    "reason": {"type": "string", "maxLength": 300}}}


def partner_scope(caller: Caller) -> int | None:
    return caller.owner_id if caller.role == "field_partner" else None


def refused(exc: InsuranceError | PaymentError) -> ApiError:
    if isinstance(exc, PaymentError):
        return ApiError(409, exc.code, str(exc))
    status = STATUS_BY_CODE.get(exc.code, 400 if exc.field else 409)
    return ApiError(status, exc.code, exc.message, exc.field)


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise ApiError(400, "invalid_request", f"unknown field {sorted(unknown)[0]}",
                       sorted(unknown)[0])


def _integer(body: dict[str, Any], name: str, *, required: bool = True) -> int:
    value = body.get(name)
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise ApiError(400, "invalid_request", f"'{name}' must be a positive integer", name)
    return value


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ApiError(400, "invalid_request", f"'{name}' must be 1-{limit} characters", name)
    return value.strip()


def _date(body: dict[str, Any], name: str) -> date:
    value = body.get(name)
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "invalid_request", f"'{name}' must be YYYY-MM-DD", name) from None


def _claim(claim_id: int) -> Claim:
    claim = visible_claim(get_session(), claim_id, partner_scope(current_caller()))
    if claim is None:
        raise ApiError(404, "unknown_claim", f"no claim {claim_id}")
    return claim


@endpoint("/insurance/policies", "GET", summary="List policies (credit-life, hospital cash)",
          roles=ROLES,
          parameters=[query("kind", "only this kind", {"type": "string",
                                                       "enum": list(POLICY_KINDS)}),
                      query("limit", "page size (1-200)", {"type": "integer"}),
                      query("offset", "items to skip", {"type": "integer"})],
          responses={200: "{items, total, limit, offset, next_offset}"})
def insurance_policies() -> Response:
    """Policies the caller may see, newest first."""
    page = page_args()
    kind = choice_arg("kind", POLICY_KINDS)
    session = get_session()
    items, total = list_policies(session, partner_id=partner_scope(current_caller()),
                                 kind=kind, limit=page.limit, offset=page.offset)
    return jsonify(page.wrap([policy_json(session, p) for p in items], total))


@endpoint("/insurance/claims", "GET", summary="List claims", roles=ROLES,
          parameters=[query("status", "only claims in this status",
                            {"type": "string", "enum": list(CLAIM_STATUSES)}),
                      query("limit", "page size (1-200)", {"type": "integer"}),
                      query("offset", "items to skip", {"type": "integer"})],
          responses={200: "{items, total, limit, offset, next_offset}"})
def insurance_claims() -> Response:
    """Claims the caller may see; `status=filed` lists the oldest waiting first."""
    page = page_args()
    status = choice_arg("status", CLAIM_STATUSES)
    items, total = list_claims(get_session(), partner_id=partner_scope(current_caller()),
                               status=status, limit=page.limit, offset=page.offset)
    return jsonify(page.wrap([claim_json(c) for c in items], total))


@endpoint("/insurance/claims", "POST", summary="File a claim for an operator to decide",
          roles=ROLES, body=CLAIM_BODY,
          responses={201: "the claim, filed", 200: "the same key again: the same claim",
                     400: "a field is missing or wrong (error.field)",
                     404: "no such policy, or not the caller's borrower's",
                     409: "not covered on that date, a claim already open, nights used up"})
def insurance_file_claim() -> tuple[Response, int]:
    """File a claim on a policy; hospital cash needs the nights in hospital."""
    body = json_body()
    _only(body, set(CLAIM_BODY["properties"]))
    caller = current_caller()
    policy_id = _integer(body, "policy_id")
    session = get_session()
    if visible_policy(session, policy_id, partner_scope(caller)) is None:
        raise ApiError(404, "unknown_policy", f"no policy {policy_id}", "policy_id")
    # keys are the caller's own: another key's "1" is another claim
    key = f"api:{caller.key_id}:{_text(body, 'idempotency_key', 100)}"
    existing = session.scalar(select(Claim.id).where(Claim.key == key))
    try:
        claim = claims.file_claim(
            session, policy_id=policy_id, cause=_text(body, "cause", 12),
            event_date=_date(body, "event_date"), nights=_integer(body, "nights",
                                                                   required=False),
            filed_by=caller_label(caller), channel="api", idempotency_key=key)
    except InsuranceError as exc:
        raise refused(exc) from None
    session.commit()
    return jsonify(claim_json(claim)), 200 if existing else 201


@endpoint("/insurance/claims/<int:claim_id>", "GET", summary="One claim", roles=ROLES,
          responses={200: "the claim", 404: "no such claim, or not the caller's"})
def insurance_claim(claim_id: int) -> Response:
    return jsonify(claim_json(_claim(claim_id)))


@endpoint("/insurance/claims/<int:claim_id>/approve", "POST",
          summary="Accept a claim and pay it (credit-life: the loan is settled from the pool; "
                  "hospital cash: a B2C payout)", roles=OPERATOR, body=REASON_BODY,
          responses={200: "the claim, paid or paying", 403: "the caller filed this claim",
                     404: "no such claim",
                     409: "decided already, or the pool cannot pay it (pool_insufficient)"})
def insurance_approve(claim_id: int) -> Response:
    """Maker-checker: a different key from the one that filed it."""
    return _decide(claim_id, approve=True)


@endpoint("/insurance/claims/<int:claim_id>/reject", "POST", summary="Reject a claim, saying why",
          roles=OPERATOR, body={**REASON_BODY, "required": ["reason"]},
          responses={200: "the claim, rejected", 400: "no reason given",
                     403: "the caller filed this claim", 404: "no such claim",
                     409: "decided already"})
def insurance_reject(claim_id: int) -> Response:
    return _decide(claim_id, approve=False)


def _decide(claim_id: int, *, approve: bool) -> Response:
    claim = _claim(claim_id)
    body = json_body()
    _only(body, {"reason"})
    reason = body.get("reason") or ""
    if not isinstance(reason, str) or len(reason) > 300:
        raise ApiError(400, "invalid_request", "'reason' must be at most 300 characters",
                       "reason")
    session = get_session()
    actor = caller_label(current_caller())
    try:
        if approve:
            claim = claims.approve_claim(session, claim.id, actor=actor, reason=reason)
        else:
            claim = claims.reject_claim(session, claim.id, actor=actor, reason=reason)
    except (InsuranceError, PaymentError) as exc:
        session.rollback()
        raise refused(exc) from None
    session.commit()
    return jsonify(claim_json(claim))


@endpoint("/insurance/claims/<int:claim_id>/retry-payout", "POST",
          summary="Pay an accepted hospital-cash claim again after its B2C failed",
          roles=OPERATOR, responses={200: "the claim, paying again", 404: "no such claim",
                                     409: "not an accepted hospital claim awaiting a retry"})
def insurance_retry(claim_id: int) -> Response:
    claim = _claim(claim_id)
    session = get_session()
    try:
        claim = claims.retry_payout(session, claim.id, actor=caller_label(current_caller()))
    except (InsuranceError, PaymentError) as exc:
        session.rollback()
        raise refused(exc) from None
    session.commit()
    return jsonify(claim_json(claim))


@endpoint("/insurance/summary", "GET", summary="The pool: premiums earned, claims paid, loss "
          "ratio", roles=OPERATOR,
          responses={200: "premiums_earned, claims_paid, pool_balance, benefits_in_flight "
                          "(minor units), loss_ratio (percent, one decimal, or null)"})
def insurance_summary() -> Response:
    return jsonify(pool_summary(get_session()).to_json())


@endpoint("/insurance/capital", "POST", summary="Record capital the underwriter commits to the "
          "pool", roles=OPERATOR,
          body={"type": "object", "required": ["amount", "idempotency_key"],
                "additionalProperties": False,
                "properties": {"amount": {"type": "integer", "minimum": 1,
                                          "maximum": capital.MAX_CAPITAL,
                                          "description": "minor units"},
                               "idempotency_key": {"type": "string", "minLength": 1,
                                                   "maxLength": 100}}},
          responses={201: "the pool summary after it", 400: "a field is missing or wrong",
                     409: "the key was used for another amount"})
def insurance_capital() -> tuple[Response, int]:
    body = json_body()
    _only(body, {"amount", "idempotency_key"})
    session = get_session()
    try:
        capital.commit_capital(session, amount=_integer(body, "amount"),
                               actor=caller_label(current_caller()),
                               key=_text(body, "idempotency_key", 100))
    except InsuranceError as exc:
        raise refused(exc) from None
    session.commit()
    return jsonify(pool_summary(session).to_json()), 201
