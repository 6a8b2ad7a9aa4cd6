"""Console pages for impact: surveys (define, activate), change from baseline, and lessons.

Field-partner operators see their own borrowers' change and lessons; defining a
survey is an admin's. Views parse, call one service, render.
"""

from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from education.lessons import LESSONS, learning_by_member
from gateway.database import get_session
from gateway.ops.blueprint import bp
from gateway.ops.console_login import console_actor, current_operator, requires
from impact import reports, surveys
from impact.definition import SurveyInvalid
from impact.statistics import MIN_CELL

LEARNING_PAGE = 50


@bp.get("/impact")
@requires("viewer", partners=True)
def impact_page() -> str:
    """Change from baseline by the chosen grouping, and the surveys defined."""
    session = get_session()
    by = request.args.get("by", "all")
    if by not in reports.GROUPINGS:
        by = "all"
    code = request.args.get("survey", "")
    survey = surveys.find_survey(session, code[:40]) if code else None
    survey = survey or surveys.active_survey(session)[0]
    partner = current_operator().field_partner_id
    report = reports.change_report(session, survey, by, field_partner_id=partner)
    session.commit()  # the default survey may just have been installed
    return render_template("ops/impact.html", report=report, survey=survey,
                           surveys=surveys.list_surveys(session), by=by,
                           groupings=reports.GROUPINGS, min_n=MIN_CELL,
                           answers=reports.respondents(session, survey.id, partner))


@bp.post("/impact/surveys")
@requires("admin")
def impact_define() -> WerkzeugResponse:
    """Define a survey from its JSON (docs/impact.md)."""
    session = get_session()
    try:
        raw = json.loads(request.form.get("definition", ""))
        survey = surveys.define_survey(session, raw, console_actor().key,
                                       activate=request.form.get("activate") == "1")
    except json.JSONDecodeError as exc:
        flash(f"Not JSON: {exc.msg} (line {exc.lineno})", "error")
        return redirect(url_for("ops.impact_page"))
    except SurveyInvalid as exc:
        session.rollback()
        flash(f"Not saved: {exc.field}: {exc.message}", "error")
        return redirect(url_for("ops.impact_page"))
    except surveys.SurveyExists:
        session.rollback()
        flash("A survey with this code exists; give a changed survey a new code.", "error")
        return redirect(url_for("ops.impact_page"))
    session.commit()
    flash(f"Survey {survey.code} saved{' and active' if survey.active else ''}.", "ok")
    return redirect(url_for("ops.impact_page", survey=survey.code))


@bp.post("/impact/surveys/<code>/activate")
@requires("admin")
def impact_activate(code: str) -> WerkzeugResponse:
    session = get_session()
    survey = surveys.find_survey(session, code[:40])
    if survey is None:
        abort(404)
    surveys.activate_survey(session, survey.id)
    session.commit()
    flash(f"Members are now asked survey {survey.code}.", "ok")
    return redirect(url_for("ops.impact_page", survey=survey.code))


@bp.get("/learning")
@requires("viewer", partners=True)
def learning_page() -> str:
    """Lessons completed, by borrower (a field partner's own borrowers only)."""
    try:
        offset = max(0, min(int(request.args.get("offset", "0")), 10_000_000))
    except ValueError:
        offset = 0
    rows, total = learning_by_member(get_session(), current_operator().field_partner_id,
                                     limit=LEARNING_PAGE, offset=offset)
    return render_template("ops/learning.html", rows=rows, total=total, offset=offset,
                           page_size=LEARNING_PAGE, lessons=list(LESSONS))
