"""Savings, read by operators and field partners; chamas created by them.

An operator key sees every saver and chama. A field-partner key (its owner id is
the partner's id) sees only its own borrowers' accounts and its own chamas:
anything else answers 404, exactly as something that does not exist.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, jsonify

from gateway.api.base import ApiError, bp, endpoint, int_arg, json_body, page_args, query
from gateway.api.loans import caller_label
from gateway.api_keys import Caller, current_caller
from gateway.database import get_session
from savings import chamas, queries
from savings.errors import SavingsError

assert bp  # the routes below register on the API blueprint

ROLES = ("operator", "field_partner")


def partner_of(caller: Caller) -> int | None:
    return caller.owner_id if caller.role == "field_partner" else None


@endpoint("/savings/summary", "GET", summary="Savers, money saved, interest paid, chamas",
          roles=ROLES, responses={200: "{savers, accounts, goals, saved, interest_paid, chamas}"})
def savings_summary() -> Response:
    """Totals over the savings the caller may see, from the ledger."""
    return jsonify(queries.totals(get_session(), partner_of(current_caller())).to_json())


@endpoint("/savings/accounts", "GET", summary="Savings accounts with balances, newest first",
          roles=ROLES,
          parameters=[query("member_id", "only this member's accounts",
                            {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}),
                      query("limit", "page size (1-200)", {"type": "integer"}),
                      query("offset", "items to skip", {"type": "integer"})],
          responses={200: "{items, total, limit, offset, next_offset}"})
def savings_accounts() -> Response:
    """Accounts the caller may see, paginated; balances in minor units."""
    page = page_args()
    member_id = int_arg("member_id", default=0, minimum=0)
    items, total = queries.list_accounts(
        get_session(), field_partner_id=partner_of(current_caller()),
        member_id=member_id or None, limit=page.limit, offset=page.offset)
    return jsonify(page.wrap([row.to_json() for row in items], total))


@endpoint("/savings/accounts/<int:account_id>", "GET",
          summary="One savings account and its latest movements", roles=ROLES,
          responses={200: "the account with `movements`", 404: "no such account, or not yours"})
def savings_account_show(account_id: int) -> Response:
    session = get_session()
    row = queries.find_account(session, account_id, partner_of(current_caller()))
    if row is None:
        raise ApiError(404, "unknown_account", f"no savings account {account_id}")
    return jsonify({**row.to_json(), "movements": [
        m.to_json() for m in queries.movements(session, account_id)]})


@endpoint("/savings/chamas", "GET", summary="Chamas with their round, pot and members",
          roles=ROLES, responses={200: "{items}"})
def savings_chamas() -> Response:
    items = queries.list_chamas(get_session(), partner_of(current_caller()))
    return jsonify(items=[item.to_json() for item in items])


@endpoint("/savings/chamas/<int:chama_id>", "GET", summary="One chama, its members and payouts",
          roles=ROLES, responses={200: "the chama", 404: "no such chama, or not yours"})
def savings_chama_show(chama_id: int) -> Response:
    found = queries.find_chama(get_session(), chama_id, partner_of(current_caller()))
    if found is None:
        raise ApiError(404, "unknown_chama", f"no chama {chama_id}")
    return jsonify(found.to_json())


CHAMA_BODY: dict[str, Any] = {
    "type": "object", "required": ["name", "contribution", "frequency", "start_date",
                                   "member_ids"],
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "contribution": {"type": "integer", "description": "minor units, whole shillings"},
        "frequency": {"type": "string", "enum": ["weekly", "monthly"]},
        "start_date": {"type": "string", "format": "date"},
        "member_ids": {"type": "array", "items": {"type": "integer"}, "minItems": 2,
                       "maxItems": 30, "uniqueItems": True,
                       "description": "in payout order, 2 to 30 members"},
        "payouts_per_round": {"type": "integer", "default": 1},
    },
}


def _chama_fields(body: dict[str, Any]) -> dict[str, Any]:
    unknown = set(body) - set(CHAMA_BODY["properties"])
    if unknown:
        raise ApiError(400, "invalid_request", f"unknown field {sorted(unknown)[0]}",
                       sorted(unknown)[0])
    for name in CHAMA_BODY["required"]:
        if name not in body:
            raise ApiError(400, "missing_field", f"'{name}' is required", name)
    if not isinstance(body["name"], str):
        raise ApiError(400, "invalid_name", "a name is text", "name")
    if not isinstance(body["frequency"], str):
        raise ApiError(400, "invalid_frequency", "weekly or monthly", "frequency")
    try:
        start = date.fromisoformat(str(body["start_date"]))
    except ValueError:
        raise ApiError(400, "invalid_date", "a date as YYYY-MM-DD", "start_date") from None
    ids = body["member_ids"]
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                            for i in ids):
        raise ApiError(400, "invalid_members", "a list of member ids", "member_ids")
    return {"name": body["name"], "contribution": body["contribution"],
            "frequency": body["frequency"], "start_date": start, "member_ids": ids,
            "payouts_per_round": body.get("payouts_per_round", 1)}


@endpoint("/savings/chamas", "POST", summary="Start a chama with its members in payout order",
          roles=ROLES, body=CHAMA_BODY,
          responses={201: "the chama", 400: "the field at fault"})
def savings_chama_create() -> tuple[Response, int]:
    """A field partner may group only its own borrowers; the chama is then theirs."""
    caller = current_caller()
    fields = _chama_fields(json_body())
    session = get_session()
    try:
        chama = chamas.create_chama(session, **fields, field_partner_id=partner_of(caller),
                                    actor=caller_label(caller))
    except SavingsError as exc:
        raise ApiError(400, exc.code, exc.message, exc.field) from None
    session.commit()
    return jsonify(queries.detail(session, chama).to_json()), 201
