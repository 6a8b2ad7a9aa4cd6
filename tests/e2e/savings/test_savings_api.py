"""The savings API and console page: what operators and field partners see, and who may not."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from argon2 import PasswordHasher

from gateway.api_keys import create_api_key
from gateway.operators import create_operator
from savings import accounts, chamas

KES = 100
PASSWORD = "a long console password 1"


_operators = itertools.count(1)


def token(session, role: str, owner_id: int | None = None) -> dict[str, str]:
    if role == "operator" and owner_id is None:  # an operator key acts for a named operator
        owner_id = create_operator(session, email=f"savings-op-{next(_operators)}@mkopo.test",
                                   password=PASSWORD, role="admin").id
    _, secret = create_api_key(session, role=role, owner_id=owner_id)
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def world(savers, session):
    """Two partners' savers: one with Akiba and a goal, a chama of the first partner's."""
    first = savers.member(first_name="Amina")
    partner_id = first.field_partner_id
    savers.deposit(first, 800 * KES)
    goal = accounts.open_goal(session, first.id, name="Roof", target=5_000 * KES,
                              lock_until=date(2026, 9, 1))
    second = savers.member(first_name="Baraka")
    savers.deposit(second, 300 * KES)
    from lending.models import FieldPartner

    partner = session.get(FieldPartner, partner_id)
    mate = savers.member(first_name="Chebet", partner=partner)
    chama = chamas.create_chama(session, name="Tumaini", contribution=500 * KES,
                                frequency="weekly", start_date=date(2026, 3, 2),
                                member_ids=[first.id, mate.id], field_partner_id=partner_id)
    session.commit()
    return {"first": first, "second": second, "goal": goal, "chama": chama,
            "partner_id": partner_id}


def test_an_operator_sees_every_account_with_its_ledger_balance(client, session, world) -> None:
    response = client.get("/api/v1/savings/accounts", headers=token(session, "operator"))
    assert response.status_code == 200
    body = response.json
    by_name = {(item["first_name"], item["name"]): item["balance"] for item in body["items"]}
    assert by_name[("Amina", "Akiba")] == 800 * KES and by_name[("Baraka", "Akiba")] == 300 * KES
    assert by_name[("Amina", "Roof")] == 0
    summary = client.get("/api/v1/savings/summary", headers=token(session, "operator")).json
    assert (summary["saved"], summary["goals"], summary["chamas"]) == (1_100 * KES, 1, 1)


def test_a_field_partner_sees_only_its_own_savers_and_chamas(client, session, world) -> None:
    headers = token(session, "field_partner", world["partner_id"])
    items = client.get("/api/v1/savings/accounts", headers=headers).json["items"]
    assert {(item["first_name"], item["name"]) for item in items} == {
        ("Amina", "Akiba"), ("Amina", "Roof")}
    other = accounts.personal_account(session, world["second"].id).id
    assert client.get(f"/api/v1/savings/accounts/{other}", headers=headers).status_code == 404
    (chama,) = client.get("/api/v1/savings/chamas", headers=headers).json["items"]
    assert [m["first_name"] for m in chama["members"]] == ["Amina", "Chebet"]
    assert chama["next_recipients"] == ["Amina"]


def test_an_account_shows_its_movements(client, session, world) -> None:
    account = accounts.personal_account(session, world["first"].id)
    body = client.get(f"/api/v1/savings/accounts/{account.id}",
                      headers=token(session, "operator")).json
    assert [(m["kind"], m["amount"]) for m in body["movements"]] == [
        ("savings_deposit", 800 * KES)]


def test_a_lender_key_may_not_read_savings(client, session, world) -> None:
    headers = token(session, "lender", world["second"].id)
    assert client.get("/api/v1/savings/accounts", headers=headers).status_code == 403


def test_a_chama_is_created_by_api_in_payout_order(client, session, world) -> None:
    ids = [world["second"].id, world["first"].id]
    response = client.post("/api/v1/savings/chamas", headers=token(session, "operator"), json={
        "name": "Umoja", "contribution": 20_000, "frequency": "monthly",
        "start_date": "2026-03-01", "member_ids": ids})
    assert response.status_code == 201, response.json
    assert [m["member_id"] for m in response.json["members"]] == ids
    assert response.json["round_ends"] == "2026-04-01"


@pytest.mark.parametrize(("change", "field"), [
    ({"contribution": 150}, "contribution"), ({"frequency": 3}, "frequency"),
    ({"start_date": "31/12/2026"}, "start_date"), ({"member_ids": "1,2"}, "member_ids"),
    ({"member_ids": [1]}, "member_ids"), ({"colour": "red"}, "colour"),
    ({"name": None}, "name"),
])
def test_a_bad_chama_gets_a_400_naming_the_field(client, session, world, change, field) -> None:
    body = {"name": "Umoja", "contribution": 20_000, "frequency": "monthly",
            "start_date": "2026-03-01", "member_ids": [world["first"].id, world["second"].id],
            **change}
    response = client.post("/api/v1/savings/chamas", headers=token(session, "operator"),
                           json=body)
    assert response.status_code == 400
    assert response.json["error"]["field"] == field


def test_a_field_partner_groups_only_its_own_borrowers(client, session, world) -> None:
    response = client.post(
        "/api/v1/savings/chamas", headers=token(session, "field_partner", world["partner_id"]),
        json={"name": "Umoja", "contribution": 20_000, "frequency": "weekly",
              "start_date": "2026-03-02", "member_ids": [world["first"].id,
                                                         world["second"].id]})
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_members"


def test_the_openapi_document_describes_the_savings_endpoints(client) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/savings/summary", "/savings/accounts", "/savings/accounts/{account_id}",
            "/savings/chamas", "/savings/chamas/{chama_id}"} <= set(paths)
    assert set(paths["/savings/chamas"]) == {"get", "post"}


# --- the console ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import operators

    monkeypatch.setattr(operators, "_hasher", PasswordHasher(time_cost=1, memory_cost=8,
                                                        parallelism=1))


def console(app, session, role: str = "viewer", field_partner_id: int | None = None):
    who = create_operator(session, email=f"{role}{field_partner_id}@savings.test",
                          password=PASSWORD, role=role, field_partner_id=field_partner_id)
    session.commit()
    client = app.test_client()
    assert client.post("/ops/login", data={"email": who.email,
                                           "password": PASSWORD}).status_code == 302
    return client


def test_the_console_savings_page_shows_money_accounts_and_chamas(app, session, world) -> None:
    page = console(app, session).get("/ops/savings")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "KES 1,100" in text and "Tumaini" in text and "Roof" in text
    chama = console(app, session, "approver").get(
        f"/ops/savings/chamas/{world['chama'].id}").get_data(as_text=True)
    assert "Members in payout order" in chama and "Chebet" in chama


def test_a_partner_operator_sees_only_its_own_savings(app, session, world) -> None:
    client = console(app, session, "viewer", field_partner_id=world["second"].field_partner_id)
    text = client.get("/ops/savings").get_data(as_text=True)
    assert "Baraka" in text and "Amina" not in text and "Tumaini" not in text
    assert client.get(f"/ops/savings/chamas/{world['chama'].id}").status_code == 404
