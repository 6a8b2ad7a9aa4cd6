"""Impact surveys, change from baseline, lessons completed, operating expenses.

Surveys are defined by operators; the change report is open to operators, field
partners (their own borrowers only) and lenders (aggregates only: small cells are
suppressed, so nothing identifies a member). Lesson completions are a field
partner's own borrowers' (by member id and first name, never a phone number).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import jsonify, request

from education.lessons import learning_by_member
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
from impact import expenses, reports, surveys
from impact.definition import SurveyInvalid
from impact.models import Survey
from impact.statistics import MIN_CELL
from ledger import LedgerError

assert bp  # the routes below register on the API blueprint

READERS = ("operator", "field_partner", "lender")


def survey_json(survey: Survey, *, detail: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"code": survey.code, "name": survey.name, "active": survey.active,
                            "created_at": survey.created_at.isoformat(timespec="seconds"),
                            "questions": len(survey.definition.get("questions", []))}
    if detail:
        body["definition"] = survey.definition
    return body


SURVEY_BODY = {"type": "object", "required": ["code", "name", "dimensions", "questions"],
               "description": "A survey definition (docs/impact.md); `activate: true` makes "
                              "it the survey members are asked.",
               "properties": {
                   "code": {"type": "string"}, "name": {"type": "string"},
                   "sample_rate": {"type": "string", "description": "0 to 1, e.g. \"0.5\""},
                   "milestones": {"type": "array", "items": {
                       "type": "string", "enum": ["disbursed", "mid_term", "repaid"]}},
                   "dimensions": {"type": "array", "minItems": 1, "uniqueItems": True,
                                  "items": {"type": "string",
                                            "pattern": "^[a-z][a-z0-9_-]{0,31}$"}},
                   "questions": {"type": "array", "items": {"type": "object"}},
                   "activate": {"type": "boolean"}}}


@endpoint("/surveys", "POST", summary="Define an impact survey", roles=("operator",),
          body=SURVEY_BODY, responses={201: "the survey", 409: "the code exists"})
def surveys_create():
    """Validate and store a survey definition."""
    data = json_body()
    activate = data.pop("activate", False)
    if not isinstance(activate, bool):
        raise ApiError(400, "invalid_field", "'activate' must be true or false.", "activate")
    session = get_session()
    try:
        survey = surveys.define_survey(session, data, f"api-key:{current_caller().key_id}",
                                       activate=activate)
    except SurveyInvalid as exc:
        session.rollback()
        raise ApiError(400, "invalid_survey", exc.message, exc.field) from None
    except surveys.SurveyExists:
        session.rollback()
        raise ApiError(409, "survey_exists", "A survey with this code exists; surveys are "
                       "immutable once defined, so give a changed one a new code.",
                       "code") from None
    session.commit()
    return jsonify(survey_json(survey, detail=True)), 201


@endpoint("/surveys", "GET", summary="List impact surveys", roles=READERS)
def surveys_list():
    """Every survey, the active one marked."""
    return jsonify({"items": [survey_json(s) for s in surveys.list_surveys(get_session())]})


@endpoint("/surveys/<code>", "GET", summary="One survey with its questions", roles=READERS)
def surveys_show(code: str):
    """A survey's full definition."""
    return jsonify(survey_json(_survey(code), detail=True))


@endpoint("/surveys/<code>/activate", "POST", summary="Ask members this survey from now on",
          roles=("operator",))
def surveys_activate(code: str):
    """Make this survey the active one."""
    survey = _survey(code)
    session = get_session()
    surveys.activate_survey(session, survey.id)
    session.commit()
    return jsonify(survey_json(_survey(code)))


def _survey(code: str) -> Survey:
    survey = surveys.find_survey(get_session(), code[:40])
    if survey is None:
        raise ApiError(404, "unknown_survey", f"no survey {code[:40]!r}")
    return survey


@endpoint("/impact/changes", "GET", summary="Change from baseline per dimension, by group",
          roles=READERS,
          parameters=[query("survey", "survey code (default: the active survey)"),
                      query("by", "grouping", {"type": "string",
                                               "enum": list(reports.GROUPINGS)}),
                      query("min_n", f"smallest cell shown (at least {MIN_CELL})",
                            {"type": "integer", "minimum": MIN_CELL, "maximum": 1000})],
          responses={404: "no survey with this code",
                     200: "{survey, by, min_n, dimensions, groups: [{group, n, dimensions: "
                          "{dim: {baseline, followup, change: {n, mean, ci95}}}}], method}"})
def impact_changes():
    """Paired change (latest follow-up - baseline) with 95% intervals; small cells hidden."""
    by = choice_arg("by", reports.GROUPINGS, "all") or "all"
    min_n = int_arg("min_n", default=MIN_CELL, minimum=MIN_CELL, maximum=1000)
    code = request.args.get("survey")
    survey = _survey(code) if code else surveys.active_survey(get_session())[0]
    caller = current_caller()
    partner = caller.owner_id if caller.role == "field_partner" else None
    return jsonify(reports.change_report(get_session(), survey, by, field_partner_id=partner,
                                         min_n=min_n))


@endpoint("/education/progress", "GET", summary="Lessons completed, by borrower",
          roles=("operator", "field_partner"),
          parameters=[query("limit", "page size (1-200)", {"type": "integer"}),
                      query("offset", "items to skip", {"type": "integer"})],
          responses={200: "{items: [{member_id, first_name, completed: {lesson: time}, "
                          "lessons_completed, lessons_total, attempts}], total, ...}"})
def education_progress():
    """Who completed which lesson; a field partner sees only its own borrowers."""
    caller = current_caller()
    partner = caller.owner_id if caller.role == "field_partner" else None
    page = page_args()
    rows, total = learning_by_member(get_session(), partner, limit=page.limit,
                                     offset=page.offset)
    return jsonify(page.wrap([row.to_json() for row in rows], total))


EXPENSE_BODY = {"type": "object", "required": ["key", "category", "amount", "incurred_on"],
                "properties": {
                    "key": {"type": "string", "minLength": 1, "maxLength": 100,
                            "pattern": "^[^\\x00-\\x1f\\x7f]+$",
                            "description": "idempotency key (printable)"},
                    "category": {"type": "string", "enum": list(expenses.CATEGORIES)},
                    "amount": {"type": "integer", "minimum": 1,
                               "maximum": expenses.MAX_AMOUNT, "description": "minor units"},
                    "description": {"type": "string"},
                    "incurred_on": {"type": "string", "format": "date"}}}


@endpoint("/expenses", "POST", summary="Book an operating expense in the ledger",
          roles=("operator",), body=EXPENSE_BODY,
          responses={201: "the expense (the same key again answers the same expense)",
                     409: "the key was used for a different expense"})
def expenses_create():
    """Dr expense:operations:<category>, Cr equity:platform:funding; once per key."""
    data = json_body()
    try:
        day = datetime.fromisoformat(str(data.get("incurred_on", ""))[:10])
    except ValueError:
        raise ApiError(400, "invalid_field", "'incurred_on' must be a date YYYY-MM-DD.",
                       "incurred_on") from None
    description = data.get("description", "")
    if not isinstance(description, str) or not isinstance(data.get("key"), str):
        raise ApiError(400, "invalid_field", "'key' and 'description' must be text.", "key")
    session = get_session()
    try:
        row = expenses.record_operating_expense(session, expenses.ExpenseRequest(
            key=data["key"], category=str(data.get("category")), amount=data.get("amount", 0),
            description=description, incurred_on=day.replace(tzinfo=UTC, hour=12),
        ), f"api-key:{current_caller().key_id}")
    except expenses.ExpenseInvalid as exc:
        session.rollback()
        raise ApiError(400, "invalid_field", exc.message, exc.field) from None
    except LedgerError:
        session.rollback()
        raise ApiError(409, "key_conflict", "This key was used for a different expense.",
                       "key") from None
    session.commit()
    return jsonify({"key": row.key, "category": row.category, "amount": row.amount,
                    "journal_entry_id": row.journal_entry_id}), 201
