"""Lenders: sign-up, browsing fundraising loans, funding, portfolio, statement, auto-lend, impact.

A lender key may act only for its own member id; another id answers 404, so a
key cannot even learn which lenders exist. Operators may act for any lender.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import jsonify, request

from gateway.api.base import (
    ApiError,
    bp,
    choice_arg,
    endpoint,
    int_arg,
    json_body,
    page_args,
    query,
)
from gateway.api_keys import current_caller
from gateway.database import get_session
from impact import reach as impact
from lending import autolend, digest, lenders
from lending.errors import LendingError
from lending.models import REPAYMENT_SMS_CHOICES, LoanFunding, Member

assert bp  # the routes below register on the API blueprint

LENDER_ROLES = ("lender", "operator")
NOT_FOUND = {"unknown_lender", "unknown_loan", "unknown_member"}
CONFLICTS = {
    "already_registered", "id_in_use", "not_fundraising", "fundraising_closed", "overfunded",
    "insufficient_funds", "own_loan", "key_conflict", "not_a_lender", "daily_limit",
    "member_suspended", "idempotency_conflict",
}
MAX_KEY = 80  # Idempotency-Key header; namespaced by lender it stays within 120 characters

PAGE: list[Mapping[str, Any]] = [query("limit", "page size (1-200)", {"type": "integer"}),
        query("offset", "items to skip", {"type": "integer"})]


@contextmanager
def refusals() -> Iterator[None]:
    """Turn a lending refusal into a JSON error: 404 unknown, 409 state, 400 input."""
    try:
        yield
    except LendingError as exc:
        status = 404 if exc.code in NOT_FOUND else 409 if exc.code in CONFLICTS else 400
        raise ApiError(status, exc.code, exc.message, exc.field) from None


def own_lender(lender_id: int) -> int:
    """The lender id the caller may act for, or 404."""
    caller = current_caller()
    if caller.role == "lender" and caller.owner_id != lender_id:
        raise ApiError(404, "unknown_lender", f"no lender {lender_id}")
    with refusals():
        lenders.get_lender(get_session(), lender_id)
    return lender_id


def idempotency_key(lender_id: int, action: str) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ApiError(400, "missing_idempotency_key",
                       f"Send an Idempotency-Key header of 1-{MAX_KEY} characters.",
                       "Idempotency-Key")
    return f"api:{action}:{lender_id}:{key}"


def member_json(member: Member) -> dict[str, Any]:
    return {"id": member.id, "phone": member.phone, "first_name": member.first_name,
            "last_name": member.last_name, "gender": member.gender, "region": member.region,
            "language": member.language, "status": member.status,
            "is_lender": member.is_lender, "is_borrower": member.is_borrower}


def funding_json(funding: LoanFunding) -> dict[str, Any]:
    return {"id": funding.id, "loan_id": funding.loan_id, "lender_id": funding.lender_id,
            "shares": funding.shares, "amount": funding.amount,
            "created_at": funding.created_at.isoformat()}


def _int_field(body: dict[str, Any], name: str, minimum: int = 1) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ApiError(400, f"invalid_{name}", f"'{name}' must be a whole number >= {minimum}.",
                       name)
    return value


# --- sign-up ---------------------------------------------------------------------------

SIGNUP_TEXT = ("phone", "first_name", "last_name", "national_id", "gender", "region", "sector",
               "language", "pin")


def _signup_fields(body: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {"language": "en", "phone": "", "first_name": "", "pin": ""}
    for name in SIGNUP_TEXT:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise ApiError(400, f"invalid_{name}", f"'{name}' must be a string.", name)
        if value is not None:
            fields[name] = value
    fields["consent"] = body.get("consent") is True
    return fields


@endpoint("/lenders", "POST", summary="Create a lender, or make an existing member one",
          roles=("operator",), body={"type": "object", "properties": {
              "member_id": {"type": "integer"}, "phone": {"type": "string"},
              "first_name": {"type": "string"}, "last_name": {"type": "string"},
              "national_id": {"type": "string"}, "gender": {"enum": ["f", "m", "x"]},
              "region": {"type": "string"}, "language": {"enum": ["en", "sw"]},
              "pin": {"type": "string"}, "consent": {"type": "boolean"}}},
          responses={201: "created", 200: "an existing member now lends", 409: "conflict",
                     404: "no member with this member_id"})
def lenders_create():
    """Register a lender (201), or with `member_id` let an existing member lend (200)."""
    body, session = json_body(), get_session()
    with refusals():
        if "member_id" in body:
            member = lenders.make_lender(session, _int_field(body, "member_id"))
            status = 200
        else:
            member, status = lenders.create_lender(session, **_signup_fields(body)), 201
    session.commit()
    return jsonify(member_json(member)), status


# --- browsing --------------------------------------------------------------------------


@endpoint("/loans/fundraising", "GET", summary="Loans open for funding, closest to funded first",
          roles=LENDER_ROLES, parameters=[
              query("sector", "borrower's sector"), query("region", "borrower's region"),
              query("gender", "borrower's gender", {"enum": ["f", "m", "x"]}),
              query("min_amount", "minor units",
                    {"type": "integer", "minimum": 0, "maximum": 10**13}),
              query("max_amount", "minor units",
                    {"type": "integer", "minimum": 0, "maximum": 10**13}), *PAGE])
def lenders_browse_fundraising():
    """A page of fundraising loans, filtered."""
    page = page_args(default_limit=20)
    wanted = lenders.BrowseFilter(
        sector=request.args.get("sector") or None, region=request.args.get("region") or None,
        gender=choice_arg("gender", lenders.GENDERS),
        min_amount=_optional_int("min_amount"), max_amount=_optional_int("max_amount"))
    cards, total = lenders.browse_fundraising(get_session(), wanted, limit=page.limit,
                                              offset=page.offset)
    return jsonify(page.wrap([card.to_json() for card in cards], total))


def _optional_int(name: str) -> int | None:
    if not request.args.get(name):
        return None
    return int_arg(name, minimum=0, maximum=10**13)


# --- funding ---------------------------------------------------------------------------


@endpoint("/lenders/<int:lender_id>/fund", "POST", summary="Fund shares of a loan from the wallet",
          roles=LENDER_ROLES, parameters=[{
              "name": "Idempotency-Key", "in": "header", "required": True,
              "schema": {"type": "string", "maxLength": MAX_KEY}}],
          body={"type": "object", "required": ["loan_id", "shares"], "properties": {
              "loan_id": {"type": "integer"}, "shares": {"type": "integer", "minimum": 1}}},
          responses={201: "funded (or the same funding again for a repeated key)",
                     404: "unknown lender or loan", 409: "cannot fund"})
def lenders_fund(lender_id: int):
    """Fund a loan; repeating the request with the same Idempotency-Key funds once."""
    own_lender(lender_id)
    body = json_body()
    loan_id, shares = _int_field(body, "loan_id"), _int_field(body, "shares")
    key, session = idempotency_key(lender_id, "fund"), get_session()
    with refusals():
        funding = lenders.fund(session, lender_id=lender_id, loan_id=loan_id, shares=shares,
                               idempotency_key=key)
    session.commit()
    return jsonify(funding_json(funding)), 201


# --- the wallet ---------------------------------------------------------------------------

AMOUNT_BODY = {"type": "object", "required": ["amount"], "properties": {
    "amount": {"type": "integer", "description": "minor units, whole shillings"}}}
KEY_HEADER: list[Mapping[str, Any]] = [{"name": "Idempotency-Key", "in": "header", "required": True,
               "schema": {"type": "string", "maxLength": MAX_KEY}}]


@endpoint("/lenders/<int:lender_id>/deposits", "POST", summary="Top up the wallet (STK push)",
          roles=LENDER_ROLES, parameters=KEY_HEADER, body=AMOUNT_BODY,
          responses={202: "the prompt is on its way to the lender's phone"})
def lenders_deposit(lender_id: int):
    """Send an M-Pesa prompt to the lender's own phone."""
    return _wallet_request(lender_id, lenders.deposit, "deposit")


@endpoint("/lenders/<int:lender_id>/withdrawals", "POST",
          summary="Withdraw to M-Pesa (B2C), KES 70,000 a day at most", roles=LENDER_ROLES,
          parameters=KEY_HEADER, body=AMOUNT_BODY,
          responses={202: "the payout is on its way", 409: "over the wallet or daily limit"})
def lenders_withdraw(lender_id: int):
    """Pay wallet money out to the lender's own phone."""
    return _wallet_request(lender_id, lenders.withdraw, "withdraw")


def _wallet_request(lender_id: int, action: Any, name: str) -> Any:
    own_lender(lender_id)
    amount = _int_field(json_body(), "amount")
    key, session = idempotency_key(lender_id, name), get_session()
    phone = lenders.get_lender(session, lender_id).phone  # never another number: fraud
    with refusals():
        intent = action(session, lender_id=lender_id, phone=phone, amount=amount,
                        idempotency_key=key)
    session.commit()
    return jsonify({"id": intent.id, "kind": intent.kind, "amount": intent.amount,
                    "status": intent.status}), 202


# --- reading ---------------------------------------------------------------------------


@endpoint("/lenders/<int:lender_id>/portfolio", "GET", summary="Lent, repaid, outstanding, lost",
          roles=LENDER_ROLES)
def lenders_portfolio(lender_id: int):
    """The lender's totals and every stake with its state."""
    own_lender(lender_id)
    with refusals():
        book = lenders.lender_portfolio(get_session(), lender_id)
    return jsonify(book.to_json())


@endpoint("/lenders/<int:lender_id>/statement", "GET",
          summary="Wallet movements from the ledger, newest first", roles=LENDER_ROLES,
          parameters=PAGE)
def lenders_statement(lender_id: int):
    """The wallet's ledger movements with running balances and auto-lend reasons."""
    own_lender(lender_id)
    page = page_args(default_limit=20)
    lines, total = lenders.statement(get_session(), lender_id, limit=page.limit,
                                     offset=page.offset)
    return jsonify(page.wrap([line.to_json() for line in lines], total))


@endpoint("/lenders/<int:lender_id>/impact", "GET", summary="What this lender's money did",
          roles=LENDER_ROLES)
def lenders_impact(lender_id: int):
    """Borrowers reached, women, sectors, repayment rate, money recycled."""
    own_lender(lender_id)
    return jsonify(impact.lender_impact(get_session(), lender_id).to_json())


@endpoint("/impact", "GET", summary="What lenders' money did, platform-wide",
          roles=("operator", "field_partner", "lender"))
def lenders_platform_impact():
    """The platform's impact figures."""
    return jsonify(impact.platform_impact(get_session()).to_json())


# --- auto-lend -------------------------------------------------------------------------

AUTOLEND_BODY = {"type": "object", "required": ["enabled"], "properties": {
    "enabled": {"type": "boolean"},
    "sectors": {"type": "array", "items": {"type": "string"}, "description": "empty: any"},
    "regions": {"type": "array", "items": {"type": "string"}, "description": "empty: any"},
    "women_only": {"type": "boolean"},
    "max_per_loan": {"type": "integer", "description": "minor units per loan"},
    "max_risk_rating": {"type": "integer", "minimum": 1, "maximum": 5, "nullable": True},
    "reserve": {"type": "integer", "description": "minor units kept idle in the wallet"}}}


@endpoint("/lenders/<int:lender_id>/autolend", "GET", summary="Auto-lend settings",
          roles=LENDER_ROLES)
def lenders_get_autolend(lender_id: int):
    """The lender's auto-lend criteria and limits."""
    own_lender(lender_id)
    row = autolend.get_settings(get_session(), lender_id)
    return jsonify(autolend.settings_json(lender_id, row))


@endpoint("/lenders/<int:lender_id>/autolend", "PUT", summary="Replace auto-lend settings",
          roles=LENDER_ROLES, body=AUTOLEND_BODY)
def lenders_put_autolend(lender_id: int):
    """Replace the settings; when enabled, idle money is placed by a job soon after."""
    own_lender(lender_id)
    session = get_session()
    with refusals():
        row = autolend.save_settings(session, lender_id, autolend.validate_settings(json_body()))
    session.commit()
    if row.enabled:
        autolend.enqueue_autolend(lender_id=lender_id)
    return jsonify(autolend.settings_json(lender_id, row))


# --- repayment SMS -----------------------------------------------------------------------

NOTIFICATIONS_BODY = {"type": "object", "required": ["repayment_sms"], "properties": {
    "repayment_sms": {"type": "string", "enum": ["digest", "each"],
                      "description": "digest: one SMS a day (the default); each: one per "
                                     "repayment"}}}


@endpoint("/lenders/<int:lender_id>/notifications", "GET", summary="How repayments are told",
          roles=LENDER_ROLES)
def lenders_get_notifications(lender_id: int):
    """Whether the lender gets a daily digest of repayments or an SMS for each."""
    own_lender(lender_id)
    member = lenders.get_lender(get_session(), lender_id)
    return jsonify({"lender_id": lender_id, "repayment_sms": member.repayment_sms})


@endpoint("/lenders/<int:lender_id>/notifications", "PUT", summary="Choose how repayments are told",
          roles=LENDER_ROLES, body=NOTIFICATIONS_BODY)
def lenders_put_notifications(lender_id: int):
    """Choose a daily digest (`digest`) or an SMS for each repayment (`each`)."""
    own_lender(lender_id)
    choice = json_body().get("repayment_sms")
    if choice not in REPAYMENT_SMS_CHOICES:
        raise ApiError(400, "invalid_repayment_sms", "repayment_sms is digest or each",
                       "repayment_sms")
    session = get_session()
    with refusals():
        member = digest.set_repayment_sms(session, lender_id, choice)
    session.commit()
    return jsonify({"lender_id": lender_id, "repayment_sms": member.repayment_sms})
