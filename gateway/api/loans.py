"""Loans: list by status, show, approve, reject.

An operator key sees every loan. A field-partner key (its owner id is the
partner's id) sees only its own partner's loans: another partner's loan answers
404, exactly as a loan that does not exist, so a key cannot probe for loans.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from gateway.api.base import ApiError, bp, choice_arg, endpoint, json_body, page_args, query
from gateway.api_keys import Caller, caller_actor, current_caller
from gateway.database import get_session
from gateway.decisions import decide_application
from gateway.ops.queries import Scope, find_loan, list_loans
from lending.errors import LendingError
from lending.models import LOAN_STATUSES, Loan

assert bp  # the routes below register on the API blueprint

ROLES = ("operator", "field_partner")


def caller_scope(caller: Caller) -> Scope:
    """An operator sees everything; a field partner only its own borrowers' loans."""
    return Scope(caller.owner_id if caller.role == "field_partner" else None)


def caller_label(caller: Caller) -> str:
    """Who decides, for the loan's history: the operator behind the key, or the key."""
    return str(caller_actor(get_session(), caller))


def installment_json(row: Any) -> dict[str, Any]:
    return {"number": row.number, "due_date": row.due_date.isoformat(),
            "principal": row.principal, "interest": row.interest,
            "principal_paid": row.principal_paid, "interest_paid": row.interest_paid,
            "penalty_charged": row.penalty_charged, "penalty_paid": row.penalty_paid}


def loan_json(loan: Loan, *, detail: bool = False) -> dict[str, Any]:
    """A loan as the API shows it; the borrower by id only (no phone numbers)."""
    body: dict[str, Any] = {
        "id": loan.id, "reference": loan.reference, "status": loan.status,
        "product": loan.product.code, "borrower_id": loan.borrower_id,
        "field_partner_id": loan.field_partner_id, "currency": loan.currency,
        "amount": loan.amount, "term": loan.term, "purpose": loan.purpose,
        "upfront_fee": loan.upfront_fee, "net_disbursed": loan.net_disbursed,
        "credit_life_premium": loan.credit_life_premium,
        "total_repayable": loan.total_repayable, "apr": loan.apr,
        "funded_amount": loan.funded_amount, "created_at": loan.created_at.isoformat(),
        "disbursed_at": loan.disbursed_at.isoformat() if loan.disbursed_at else None,
    }
    if detail:
        body["installments"] = [installment_json(row) for row in loan.installments]
    return body


def visible_loan(loan_id: int) -> Loan:
    """The loan if this caller may see it; 404 otherwise (the same answer as no loan)."""
    loan = find_loan(get_session(), caller_scope(current_caller()), loan_id)
    if loan is None:
        raise ApiError(404, "unknown_loan", f"no loan {loan_id}")
    return loan


def refused(exc: LendingError) -> ApiError:
    status = 404 if exc.code == "unknown_loan" else 400 if exc.field else 409
    return ApiError(status, exc.code, exc.message, exc.field)


@endpoint("/loans", "GET", summary="List loans, newest first", roles=ROLES,
          parameters=[query("status", "only loans in this status",
                            {"type": "string", "enum": list(LOAN_STATUSES)}),
                      query("limit", "page size (1-200)", {"type": "integer"}),
                      query("offset", "items to skip", {"type": "integer"})],
          responses={200: "{items, total, limit, offset, next_offset}"})
def loans_list() -> Response:
    """Loans the caller may see, paginated."""
    page = page_args()
    status = choice_arg("status", LOAN_STATUSES)
    items, total = list_loans(get_session(), caller_scope(current_caller()), status=status,
                              limit=page.limit, offset=page.offset)
    return jsonify(page.wrap([loan_json(loan) for loan in items], total))


@endpoint("/loans/<int:loan_id>", "GET", summary="One loan with its schedule", roles=ROLES,
          responses={200: "the loan", 404: "no such loan, or not the caller's"})
def loans_show(loan_id: int) -> Response:
    """A loan and its installments."""
    return jsonify(loan_json(visible_loan(loan_id), detail=True))


@endpoint("/loans/<int:loan_id>/approve", "POST", summary="Approve an application",
          roles=ROLES,
          responses={200: "the loan, now fundraising", 404: "no such loan, or not the caller's",
                     409: "the loan is not pending review"})
def loans_approve(loan_id: int) -> Response:
    """Approve a pending application; it opens for funding."""
    loan = visible_loan(loan_id)
    session = get_session()
    try:
        loan = decide_application(session, loan, "approve", actor=caller_label(current_caller()))
    except LendingError as exc:
        raise refused(exc) from None
    session.commit()
    return jsonify(loan_json(loan))


@endpoint("/loans/<int:loan_id>/reject", "POST", summary="Reject an application, saying why",
          roles=ROLES, body={"type": "object", "required": ["reason"],
                             "properties": {"reason": {"type": "string", "maxLength": 300}}},
          responses={200: "the loan, rejected", 400: "no reason given",
                     404: "no such loan, or not the caller's",
                     409: "the loan is not pending review"})
def loans_reject(loan_id: int) -> Response:
    """Turn an application down with a reason the borrower can be told."""
    loan = visible_loan(loan_id)
    body = json_body()
    unknown = set(body) - {"reason"}
    if unknown:
        raise ApiError(400, "invalid_request", "only 'reason' may be sent", sorted(unknown)[0])
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ApiError(400, "reason_required", "say why the loan is rejected", "reason")
    session = get_session()
    try:
        loan = decide_application(session, loan, "reject", actor=caller_label(current_caller()),
                                  reason=reason.strip()[:300])
    except LendingError as exc:
        raise refused(exc) from None
    session.commit()
    return jsonify(loan_json(loan))
