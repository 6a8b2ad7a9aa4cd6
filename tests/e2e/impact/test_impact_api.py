"""The impact API: defining surveys, change from baseline, lessons, expenses, transparency."""

from __future__ import annotations

import copy
import itertools

import pytest
from sqlalchemy import select

import ledger
from core.clock import utcnow
from education.lessons import check_answer
from gateway.api_keys import create_api_key
from gateway.operators import create_operator
from impact.default_survey import DEFAULT_SURVEY

_n = itertools.count(1)


@pytest.fixture
def key(session):
    def make(role: str, owner_id: int | None = None) -> dict[str, str]:
        if owner_id is None and role == "operator":
            owner_id = create_operator(session, email=f"op{next(_n)}@mkopo.test",
                                       password="a-long-test-password-1", role="admin").id
        elif owner_id is None:
            owner_id = 999_999  # an owner nothing belongs to
        _, token = create_api_key(session, role=role, owner_id=owner_id)
        session.commit()
        return {"Authorization": f"Bearer {token}"}
    return make


def new_survey(code: str = "pilot-2027") -> dict:
    survey = copy.deepcopy(DEFAULT_SURVEY)
    survey["code"] = code
    survey["sample_rate"] = "0.25"
    return survey


def test_an_operator_defines_a_survey_and_may_make_it_active(client, key) -> None:
    operator = key("operator")
    created = client.post("/api/v1/surveys", json={**new_survey(), "activate": True},
                          headers=operator)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["active"] is True
    assert created.get_json()["definition"]["sample_rate"] == "0.25"
    again = client.post("/api/v1/surveys", json=new_survey(), headers=operator)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "survey_exists"
    listed = client.get("/api/v1/surveys", headers=key("lender")).get_json()["items"]
    assert [s["code"] for s in listed if s["active"]] == ["pilot-2027"]


@pytest.mark.parametrize(("change", "field"), [
    (lambda s: s.update(code="Bad Code"), "code"),
    (lambda s: s["questions"][0]["options"].pop() and s["questions"][0]["options"].pop(),
     "questions[0].options"),
    (lambda s: s["questions"][4]["options"][1].update(next="access"),
     "questions[4].options[1].next"),
    (lambda s: s.update(activate="yes"), "activate"),
])
def test_a_broken_survey_gets_a_400_naming_the_field(client, key, change, field) -> None:
    survey = new_survey()
    change(survey)
    response = client.post("/api/v1/surveys", json=survey, headers=key("operator"))
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_only_operators_define_surveys(client, key) -> None:
    for role in ("lender", "field_partner"):
        assert client.post("/api/v1/surveys", json=new_survey(),
                           headers=key(role)).status_code == 403


def test_change_from_baseline_for_a_lender_and_for_a_field_partner(client, key, world,
                                                                   session) -> None:
    world.survey()
    mine, other = world.partner(), world.partner()
    start = utcnow()
    for partner in (mine, other):
        for _ in range(5):
            world.baseline_and_followup(world.member(partner), {"sales": 1, "meals": 1},
                                        {"sales": 2 + (partner is other), "meals": 1}, start)
    session.commit()
    lender = client.get("/api/v1/impact/changes?by=field_partner", headers=key("lender"))
    body = lender.get_json()
    assert lender.status_code == 200 and body["min_n"] == 5
    changes = sorted(row["dimensions"]["business"]["change"]["mean"] for row in body["groups"])
    assert changes == [25.0, 50.0]
    assert "+254" not in str(body) and "member_id" not in str(body)
    partner = client.get("/api/v1/impact/changes", headers=key("field_partner", mine.id))
    assert partner.get_json()["groups"][0]["n"] == 5
    assert partner.get_json()["groups"][0]["dimensions"]["business"]["change"]["mean"] == 25.0


@pytest.mark.parametrize("query", ["by=planet", "min_n=2", "min_n=abc", "survey=nope"])
def test_bad_report_queries_are_refused(client, key, query) -> None:
    response = client.get(f"/api/v1/impact/changes?{query}", headers=key("operator"))
    assert response.status_code in (400, 404)


def test_a_field_partner_sees_its_own_borrowers_lessons(client, key, world, session) -> None:
    mine, other = world.partner(), world.partner()
    amina, baraka = world.member(mine), world.member(other)
    check_answer(session, amina.id, "apr", 2, utcnow())
    check_answer(session, amina.id, "saving", 1, utcnow())  # wrong: not completed
    check_answer(session, baraka.id, "budget", 1, utcnow())
    session.commit()
    body = client.get("/api/v1/education/progress",
                      headers=key("field_partner", mine.id)).get_json()
    assert body["total"] == 1
    row = body["items"][0]
    assert (row["member_id"], list(row["completed"]), row["attempts"]) == (amina.id, ["apr"], 2)
    assert "phone" not in row
    everyone = client.get("/api/v1/education/progress", headers=key("operator")).get_json()
    assert everyone["total"] == 2
    assert client.get("/api/v1/education/progress", headers=key("lender")).status_code == 403


def test_an_expense_is_booked_once_per_key_in_the_ledger(client, key, session) -> None:
    body = {"key": "sms-2026-02", "category": "sms", "amount": 125_000,
            "incurred_on": "2026-02-28", "description": "Africa's Talking invoice"}
    first = client.post("/api/v1/expenses", json=body, headers=key("operator"))
    second = client.post("/api/v1/expenses", json=body, headers=key("operator"))
    assert first.status_code == second.status_code == 201
    assert first.get_json()["journal_entry_id"] == second.get_json()["journal_entry_id"]
    conflict = client.post("/api/v1/expenses", json={**body, "amount": 1},
                           headers=key("operator"))
    assert conflict.status_code == 409
    assert ledger.verify(session).ok
    entries = session.scalars(select(ledger.JournalEntry)
                              .where(ledger.JournalEntry.kind == "operating_expense")).all()
    assert len(entries) == 1


@pytest.mark.parametrize("change", [{"amount": -5}, {"amount": "12"}, {"amount": 10**19},
                                    {"category": "yachts"}, {"description": "a\x00b"},
                                    {"incurred_on": "last week"}, {"key": ""}, {"key": 7}])
def test_bad_expenses_get_a_400(client, key, change) -> None:
    body = {"key": "k1", "category": "sms", "amount": 100, "incurred_on": "2026-02-28",
            **change}
    assert client.post("/api/v1/expenses", json=body,
                       headers=key("operator")).status_code == 400


def test_transparency_is_public_as_json_and_in_the_api(client, world, session) -> None:
    world.loan(world.member(world.partner("Open Partner")))
    session.commit()
    for path in ("/transparency.json", "/api/v1/transparency"):
        response = client.get(path)
        assert response.status_code == 200, path
        data = response.get_json()
        assert data["platform"]["loans_disbursed"] == 1
        assert data["field_partners"][0]["name"] == "Open Partner"
    spec = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert spec["/transparency"]["get"]["security"] == []
    assert {"/surveys", "/impact/changes", "/education/progress", "/expenses"} <= set(spec)
    page = client.get("/transparency")
    assert page.status_code == 200 and b"How each figure is computed" in page.data


def test_the_lender_impact_still_answers_from_its_new_home(client, key) -> None:
    response = client.get("/api/v1/impact", headers=key("lender"))
    assert response.status_code == 200 and "borrowers_reached" in response.get_json()


def test_days_pass_without_breaking_the_report(client, key, world, session, clock) -> None:
    world.survey()
    clock.advance(days=400)
    session.commit()
    response = client.get("/api/v1/impact/changes?by=cohort", headers=key("operator"))
    assert response.status_code == 200 and response.get_json()["groups"] == []


def test_the_commands_install_invite_and_book(runner, session) -> None:
    assert "mkopo-core installed (active)" in runner.invoke(
        args=["impact", "install-survey"]).output
    assert "invitations sent" in runner.invoke(args=["impact", "invite"]).output
    booked = runner.invoke(args=["impact", "record-expense", "--key", "inv-9", "--category",
                                 "sms", "--amount", "5000", "--on", "2026-02-01"])
    assert booked.exit_code == 0 and "expense inv-9 booked" in booked.output
    refused = runner.invoke(args=["impact", "record-expense", "--key", "inv-10",
                                  "--category", "sms", "--amount", "-1", "--on", "2026-02-01"])
    assert refused.exit_code != 0 and "minor units from 1" in refused.output
