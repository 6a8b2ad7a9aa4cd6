"""Console: impact change table, defining and activating surveys, lessons by borrower."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from core.clock import utcnow
from education.lessons import check_answer
from impact.default_survey import DEFAULT_SURVEY
from impact.models import Survey


def csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_the_impact_page_installs_and_shows_the_default_survey(signed_in) -> None:
    client = signed_in("viewer")
    page = client.get("/ops/impact")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "mkopo-core" in text and "No borrower has answered" in text
    assert "Define a survey" not in text  # an admin's


def test_an_admin_defines_and_activates_a_survey(signed_in, session) -> None:
    client = signed_in("admin")
    token = csrf(client, "/ops/impact")
    survey = {**DEFAULT_SURVEY, "code": "pilot-b", "sample_rate": "0.5"}
    saved = client.post("/ops/impact/surveys", data={
        "csrf_token": token, "definition": json.dumps(survey), "activate": "1"},
        follow_redirects=True)
    assert "Survey pilot-b saved and active" in saved.get_data(as_text=True)
    broken = client.post("/ops/impact/surveys", data={
        "csrf_token": token, "definition": json.dumps({**survey, "code": "x y"})},
        follow_redirects=True)
    assert "Not saved: code" in broken.get_data(as_text=True)
    not_json = client.post("/ops/impact/surveys", data={"csrf_token": token,
                                                        "definition": "{"},
                           follow_redirects=True)
    assert "Not JSON" in not_json.get_data(as_text=True)
    client.post("/ops/impact/surveys/mkopo-core/activate", data={"csrf_token": token})
    assert session.scalar(select(Survey.code).where(Survey.active.is_(True))) == "mkopo-core"


def test_a_viewer_cannot_define_surveys(signed_in) -> None:
    client = signed_in("viewer")
    token = csrf(client, "/ops/impact")
    response = client.post("/ops/impact/surveys", data={"csrf_token": token,
                                                        "definition": "{}"})
    assert response.status_code == 403


def test_a_field_partner_sees_only_its_borrowers_lessons(signed_in, apps, session) -> None:
    mine, other = apps.partner(), apps.partner()
    borrower = apps.pending(mine).borrower
    check_answer(session, borrower.id, "budget", 1, utcnow())
    session.commit()
    text = signed_in("viewer", mine.id).get("/ops/learning").get_data(as_text=True)
    assert borrower.first_name in text and "1 / 4" in text
    assert borrower.phone not in text
    outsider = signed_in("viewer", other.id).get("/ops/learning").get_data(as_text=True)
    assert borrower.first_name not in outsider and "No lesson taken yet" in outsider
