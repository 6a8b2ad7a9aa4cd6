"""Registrations: list members waiting for verification, verify or refuse one; PIN unlocks.

A field-partner key vouches as its own partner; an operator key (of an
operator with the approver role) names the partner that vouches. A refusal
needs a reason, which the audit log keeps; either way the member gets an SMS
in their own language.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from gateway.api.base import ApiError, bp, choice_arg, endpoint, json_body, page_args, query
from gateway.api_keys import caller_actor, caller_operator, current_caller
from gateway.database import get_session
from gateway.decisions import decide_member, unlock_member_pin
from gateway.ops.queries import Scope, find_member, list_members
from lending.errors import LendingError
from lending.models import (
    MEMBER_ACTIVE,
    MEMBER_REJECTED,
    PENDING_VERIFICATION,
    SUSPENDED,
    FieldPartner,
    Member,
)

assert bp  # the routes below register on the API blueprint

ROLES = ("operator", "field_partner")
STATUSES = (PENDING_VERIFICATION, MEMBER_ACTIVE, MEMBER_REJECTED, SUSPENDED)
MEMBER_ID = {"name": "member_id", "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 1}}


def member_json(member: Member) -> dict[str, Any]:
    """A member as the API shows it: no phone number, no PIN state."""
    return {"id": member.id, "first_name": member.first_name, "last_name": member.last_name,
            "status": member.status, "language": member.language,
            "field_partner_id": member.field_partner_id,
            "created_at": member.created_at.isoformat(),
            "decided_at": member.verified_at.isoformat() if member.verified_at else None}


def _scope() -> Scope:
    caller = current_caller()
    return Scope(caller.owner_id if caller.role == "field_partner" else None)


def _visible(member_id: int) -> Member:
    member = find_member(get_session(), _scope(), member_id)
    if member is None:
        raise ApiError(404, "unknown_member", f"no member {member_id}")
    return member


def _deciding_actor() -> str:
    """Field-partner keys decide as the partner; operator keys need the approver role."""
    session, caller = get_session(), current_caller()
    if caller.role == "operator":
        operator = caller_operator(session, caller)
        if operator is None or not operator.may("approver"):
            raise ApiError(403, "forbidden",
                           "Deciding registrations needs an approver's key or a partner's.")
    return str(caller_actor(session, caller))


def _body(allowed: set[str]) -> dict[str, Any]:
    body = json_body()
    unknown = set(body) - allowed
    if unknown:
        raise ApiError(400, "invalid_request", "unknown field", sorted(unknown)[0])
    return body


def _decided(member_id: int, decision: str, partner_id: int | None, reason: str) -> Response:
    session = get_session()
    try:
        member = decide_member(session, member_id, "verify" if decision == "verify" else "reject",
                               actor=_deciding_actor(), field_partner_id=partner_id,
                               reason=reason)
    except LendingError as exc:
        session.rollback()
        status = 404 if exc.code in ("unknown_member", "unknown_field_partner") else (
            400 if exc.code in ("reason_required", "field_partner_required") else 409)
        raise ApiError(status, exc.code, exc.message) from None
    session.commit()
    return jsonify(member_json(member))


@endpoint("/members", "GET", summary="List members, by default those waiting for verification",
          roles=ROLES,
          parameters=[query("status", "pending_verification (default), active, rejected or "
                            "suspended", {"type": "string", "enum": list(STATUSES)}),
                      query("limit", "page size (1-200)",
                            {"type": "integer", "minimum": 1, "maximum": 200}),
                      query("offset", "items to skip", {"type": "integer", "minimum": 0})],
          responses={200: "{items, total, limit, offset, next_offset}"})
def members_list() -> Response:
    """Members the caller may see: a partner sees unvouched registrations and its own."""
    page = page_args()
    status = choice_arg("status", STATUSES, PENDING_VERIFICATION)
    items, total = list_members(get_session(), _scope(), status=status, limit=page.limit,
                                offset=page.offset)
    return jsonify(page.wrap([member_json(m) for m in items], total))


@endpoint("/members/<int:member_id>/verify", "POST",
          summary="Verify a registration (a field partner vouches for the member)", roles=ROLES,
          body={"type": "object", "additionalProperties": False, "properties": {
              "field_partner_id": {"type": "integer", "minimum": 1, "description":
                                   "operator keys: the partner who vouches (partner keys: "
                                   "their own, and this must be left out)"}}},
          responses={200: "the member, now active; an SMS tells them",
                     400: "no field partner named", 403: "not an approver's or partner's key",
                     404: "no such member or field partner", 409: "the member is suspended"})
def members_verify(member_id: int) -> Response:
    """pending_verification (or rejected) -> active, vouched for by a field partner."""
    _visible(member_id)
    body = _body({"field_partner_id"})
    caller = current_caller()
    partner_id = body.get("field_partner_id")
    if caller.role == "field_partner":
        if partner_id is not None and partner_id != caller.owner_id:
            raise ApiError(403, "forbidden", "a partner's key vouches only as that partner",
                           "field_partner_id")
        partner_id = caller.owner_id
    elif partner_id is None:
        raise ApiError(400, "field_partner_required", "say which field partner vouches",
                       "field_partner_id")
    if not isinstance(partner_id, int) or isinstance(partner_id, bool):
        raise ApiError(400, "invalid_request", "field_partner_id must be an integer",
                       "field_partner_id")
    if get_session().get(FieldPartner, partner_id) is None:
        raise ApiError(404, "unknown_field_partner", f"no field partner {partner_id}",
                       "field_partner_id")
    return _decided(member_id, "verify", partner_id, "")


@endpoint("/members/<int:member_id>/reject", "POST",
          summary="Refuse a registration, saying why (kept in the audit log)", roles=ROLES,
          body={"type": "object", "required": ["reason"], "additionalProperties": False,
                "properties": {"reason": {"type": "string", "minLength": 3, "maxLength": 300,
                                          "pattern": r"\S"}}},
          responses={200: "the member, rejected; an SMS tells them", 400: "no reason given",
                     403: "not an approver's or partner's key", 404: "no such member",
                     409: "the member is not waiting for verification"})
def members_reject(member_id: int) -> Response:
    """pending_verification -> rejected."""
    _visible(member_id)
    reason = _body({"reason"}).get("reason")
    if not isinstance(reason, str) or len(reason.strip()) < 3:
        raise ApiError(400, "reason_required", "say why the registration is refused", "reason")
    return _decided(member_id, "reject", None, reason.strip()[:300])


@endpoint("/members/<int:member_id>/pin-unlock", "POST",
          summary="Unlock a member's locked PIN, saying how the member was identified (audited)",
          roles=ROLES,
          body={"type": "object", "required": ["reason"], "additionalProperties": False,
                "properties": {"reason": {"type": "string", "minLength": 3, "maxLength": 300,
                                          "pattern": r"\S"}}},
          responses={200: "the member; the PIN is unlocked and an SMS tells them",
                     400: "no reason given", 403: "not an approver's or partner's key",
                     404: "no such member", 409: "the PIN is not locked"})
def members_pin_unlock(member_id: int) -> Response:
    """Locked (for a while, or until unlocked) -> unlocked; the lock count starts again."""
    _visible(member_id)
    reason = _body({"reason"}).get("reason")
    if not isinstance(reason, str) or len(reason.strip()) < 3:
        raise ApiError(400, "reason_required", "say how you identified the member", "reason")
    session = get_session()
    try:
        member = unlock_member_pin(session, member_id, actor=_deciding_actor(),
                                   reason=reason.strip()[:300])
    except LendingError as exc:
        session.rollback()
        raise ApiError(404 if exc.code == "unknown_member" else 409, exc.code,
                       exc.message) from None
    session.commit()
    return jsonify(member_json(member))
