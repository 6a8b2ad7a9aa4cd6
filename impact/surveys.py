"""Defining surveys: the operator's own, and the default one that ships."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import insert_once
from impact.default_survey import CODE as DEFAULT_CODE
from impact.default_survey import DEFAULT_SURVEY
from impact.definition import SLUG, SurveyDefinition, parse_survey
from impact.models import Survey


class SurveyExists(ValueError):
    """A survey with this code exists; definitions are immutable once made (answers refer to
    their question ids), so a changed survey gets a new code."""


def define_survey(session: Session, raw: Any, actor: str, *, activate: bool = False
                  ) -> Survey:
    """Validate and store a survey (SurveyInvalid, SurveyExists); optionally make it active."""
    definition = parse_survey(raw)
    survey = insert_once(session, Survey, dict(
        code=definition.code, name=definition.name, definition=definition.to_json(),
        active=False, created_by=actor[:80], created_at=utcnow(),
    ), key="code")
    if survey is None:
        raise SurveyExists(definition.code)
    if activate:
        activate_survey(session, survey.id)
    return survey


def activate_survey(session: Session, survey_id: int) -> None:
    """Make this the survey members are asked; the others stay for their reports."""
    for survey in session.scalars(select(Survey).where(
            (Survey.id == survey_id) | Survey.active.is_(True))):
        survey.active = survey.id == survey_id
    session.flush()


def ensure_default_survey(session: Session) -> Survey:
    """The shipped survey, installed (and made active if no survey is) on first use."""
    survey = session.scalars(select(Survey).where(Survey.code == DEFAULT_CODE)).first()
    if survey is None:
        survey = insert_once(session, Survey, dict(
            code=DEFAULT_CODE, name=DEFAULT_SURVEY["name"],
            definition=parse_survey(DEFAULT_SURVEY).to_json(), active=False,
            created_by="system", created_at=utcnow(),
        ), key="code") or session.scalars(select(Survey).where(Survey.code == DEFAULT_CODE)).one()
    if session.scalars(select(Survey.id).where(Survey.active.is_(True))).first() is None:
        activate_survey(session, survey.id)
    return survey


def active_survey(session: Session) -> tuple[Survey, SurveyDefinition]:
    """The survey members are asked now (the default one when none was chosen)."""
    survey = session.scalars(select(Survey).where(Survey.active.is_(True))).first()
    if survey is None:
        survey = ensure_default_survey(session)
    return survey, definition_of(survey)


def definition_of(survey: Survey) -> SurveyDefinition:
    return parse_survey(survey.definition)


def find_survey(session: Session, code: str) -> Survey | None:
    """The survey with this code; None for no such survey or a code no survey could have."""
    if not SLUG.fullmatch(code):
        return None
    return session.scalars(select(Survey).where(Survey.code == code)).first()


def list_surveys(session: Session) -> list[Survey]:
    return list(session.scalars(select(Survey).order_by(Survey.id)))
