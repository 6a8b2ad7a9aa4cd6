"""The lender API: sign-up, browse, fund with idempotency, ownership, reading, auto-lend, impact."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from lending import lenders
from lending.models import LoanFunding

UNIT = 10_000
PIN = "4826"  # the PIN every World member gets


def unique_phone() -> str:
    return f"+2547{uuid.uuid4().int % 10**8:08d}"


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


@pytest.fixture
def lender_a(world) -> Any:
    return world.lender(wallet=10 * UNIT)


@pytest.fixture
def lender_b(world) -> Any:
    return world.lender(wallet=10 * UNIT)


# --- sign-up -------------------------------------------------------------------------


def test_an_operator_creates_a_lender(client, token) -> None:
    body = {"phone": unique_phone(), "first_name": "Wanjiru", "gender": "f", "pin": PIN,
            "consent": True, "language": "sw"}
    response = client.post("/api/v1/lenders", json=body, headers=token("operator"))
    assert response.status_code == 201, response.json
    assert response.json["is_lender"] is True and response.json["status"] == "active"
    assert response.json["language"] == "sw"


def test_an_operator_lets_a_borrower_lend_too(client, token, world) -> None:
    borrower = world.member()
    response = client.post("/api/v1/lenders", json={"member_id": borrower.id},
                           headers=token("operator"))
    assert response.status_code == 200 and response.json["is_lender"] is True


@pytest.mark.parametrize(("body", "field"), [
    ({"phone": "12", "first_name": "A", "pin": PIN, "consent": True}, "phone"),
    ({"phone": "+254712000001", "first_name": "", "pin": PIN, "consent": True}, "first_name"),
    ({"phone": "+254712000001", "first_name": "A", "pin": "1111", "consent": True}, "pin"),
    ({"phone": "+254712000001", "first_name": "A", "pin": PIN, "consent": False}, "consent"),
    ({"phone": "+254712000001", "first_name": "A", "pin": PIN, "consent": True,
      "gender": "q"}, "gender"),
    ({"member_id": "7"}, "member_id"),
])
def test_a_bad_sign_up_names_the_field(client, token, body, field) -> None:
    response = client.post("/api/v1/lenders", json=body, headers=token("operator"))
    assert response.status_code == 400
    assert response.json["error"]["field"] == field


def test_a_phone_cannot_sign_up_twice(client, token, world) -> None:
    taken = world.member().phone
    body = {"phone": taken, "first_name": "B", "pin": PIN, "consent": True}
    response = client.post("/api/v1/lenders", json=body, headers=token("operator"))
    assert response.status_code == 409
    assert response.json["error"]["code"] == "already_registered"


def test_only_operators_create_lenders(client, token, lender_a) -> None:
    response = client.post("/api/v1/lenders", json={}, headers=token("lender", lender_a.id))
    assert response.status_code == 403


# --- browsing --------------------------------------------------------------------------


def test_browse_filters_and_pages_fundraising_loans(client, token, world, lender_a) -> None:
    woman = world.loan(3 * UNIT, gender="f", sector="tailoring", region="Nakuru")
    world.loan(5 * UNIT, gender="m", sector="tailoring", region="Nakuru")
    world.loan(4 * UNIT, gender="f", sector="fishing", region="Nakuru")
    headers = token("lender", lender_a.id)

    body = client.get("/api/v1/loans/fundraising?sector=tailoring&gender=f", headers=headers).json
    assert [item["loan_id"] for item in body["items"]] == [woman.id]
    item = body["items"][0]
    assert item["first_name"] == "Amina" and item["percent_funded"] == 0
    assert item["shares_left"] == 3 and item["story"]

    page = client.get("/api/v1/loans/fundraising?region=Nakuru&limit=2", headers=headers).json
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next_offset"] == 2
    amounts = client.get("/api/v1/loans/fundraising?region=Nakuru&min_amount=40000"
                         "&max_amount=45000", headers=headers).json
    assert [i["amount"] for i in amounts["items"]] == [4 * UNIT]


@pytest.mark.parametrize("args", ["gender=q", "min_amount=ten", "limit=0", "offset=-1"])
def test_browse_refuses_bad_filters(client, token, args) -> None:
    response = client.get(f"/api/v1/loans/fundraising?{args}", headers=token("operator"))
    assert response.status_code == 400 and "field" in response.json["error"]


# --- funding ---------------------------------------------------------------------------


def test_a_lender_funds_shares_once_per_key(client, token, world, session, lender_a) -> None:
    loan = world.loan(5 * UNIT)
    headers = {**token("lender", lender_a.id), **key()}
    url = f"/api/v1/lenders/{lender_a.id}/fund"

    first = client.post(url, json={"loan_id": loan.id, "shares": 2}, headers=headers)
    again = client.post(url, json={"loan_id": loan.id, "shares": 2}, headers=headers)

    assert first.status_code == again.status_code == 201
    assert first.json["id"] == again.json["id"] and first.json["amount"] == 2 * UNIT
    assert lenders.wallet_balance(session, lender_a.id) == 8 * UNIT
    assert session.query(LoanFunding).filter_by(loan_id=loan.id).count() == 1


def test_funding_needs_an_idempotency_key(client, token, world, lender_a) -> None:
    loan = world.loan(5 * UNIT)
    response = client.post(f"/api/v1/lenders/{lender_a.id}/fund",
                           json={"loan_id": loan.id, "shares": 1},
                           headers=token("lender", lender_a.id))
    assert response.status_code == 400
    assert response.json["error"]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(("body", "field"), [
    ({"shares": 1}, "loan_id"), ({"loan_id": 1, "shares": 0}, "shares"),
    ({"loan_id": 1, "shares": "2"}, "shares"), ({"loan_id": True, "shares": 1}, "loan_id"),
])
def test_funding_validates_the_body(client, token, lender_a, body, field) -> None:
    response = client.post(f"/api/v1/lenders/{lender_a.id}/fund", json=body,
                           headers={**token("lender", lender_a.id), **key()})
    assert response.status_code == 400 and response.json["error"]["field"] == field


def test_funding_more_than_is_left_or_in_the_wallet_is_a_conflict(
    client, token, world, lender_a
) -> None:
    headers = token("lender", lender_a.id)
    url = f"/api/v1/lenders/{lender_a.id}/fund"
    small = world.loan(2 * UNIT)
    big = world.loan(40 * UNIT)
    over = client.post(url, json={"loan_id": small.id, "shares": 3}, headers={**headers, **key()})
    broke = client.post(url, json={"loan_id": big.id, "shares": 11}, headers={**headers, **key()})
    unknown = client.post(url, json={"loan_id": 10**9, "shares": 1}, headers={**headers, **key()})
    assert (over.status_code, over.json["error"]["code"]) == (409, "overfunded")
    assert (broke.status_code, broke.json["error"]["code"]) == (409, "insufficient_funds")
    assert unknown.status_code == 404


# --- ownership -------------------------------------------------------------------------


def test_lender_a_cannot_fund_as_lender_b(client, token, world, session, lender_a,
                                          lender_b) -> None:
    loan = world.loan(5 * UNIT)
    response = client.post(f"/api/v1/lenders/{lender_b.id}/fund",
                           json={"loan_id": loan.id, "shares": 1},
                           headers={**token("lender", lender_a.id), **key()})
    assert response.status_code == 404
    assert lenders.wallet_balance(session, lender_b.id) == 10 * UNIT


@pytest.mark.parametrize("path", ["portfolio", "statement", "autolend", "impact"])
def test_lender_a_cannot_read_lender_b(client, token, lender_a, lender_b, path) -> None:
    response = client.get(f"/api/v1/lenders/{lender_b.id}/{path}",
                          headers=token("lender", lender_a.id))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "unknown_lender"


def test_lender_a_cannot_change_lender_bs_autolend_or_move_their_money(
    client, token, lender_a, lender_b
) -> None:
    headers = token("lender", lender_a.id)
    put = client.put(f"/api/v1/lenders/{lender_b.id}/autolend", json={"enabled": True},
                     headers=headers)
    out = client.post(f"/api/v1/lenders/{lender_b.id}/withdrawals", json={"amount": 1_000},
                      headers={**headers, **key()})
    assert put.status_code == out.status_code == 404


def test_an_operator_acts_for_any_lender(client, token, world, lender_b) -> None:
    loan = world.loan(5 * UNIT)
    response = client.post(f"/api/v1/lenders/{lender_b.id}/fund",
                           json={"loan_id": loan.id, "shares": 1},
                           headers={**token("operator"), **key()})
    assert response.status_code == 201 and response.json["lender_id"] == lender_b.id


def test_a_field_partner_key_cannot_fund(client, token, lender_a) -> None:
    response = client.post(f"/api/v1/lenders/{lender_a.id}/fund", json={},
                           headers=token("field_partner", 1))
    assert response.status_code == 403


# --- reading ---------------------------------------------------------------------------


def test_portfolio_and_statement_follow_the_money(client, token, world, lender_a) -> None:
    loan = world.loan(5 * UNIT)
    headers = token("lender", lender_a.id)
    client.post(f"/api/v1/lenders/{lender_a.id}/fund", json={"loan_id": loan.id, "shares": 3},
                headers={**headers, **key()})

    book = client.get(f"/api/v1/lenders/{lender_a.id}/portfolio", headers=headers).json
    assert book["lent"] == 3 * UNIT and book["wallet"] == 7 * UNIT
    assert book["counts"]["raising"] == 1 and book["stakes"][0]["loan_id"] == loan.id

    lines = client.get(f"/api/v1/lenders/{lender_a.id}/statement", headers=headers).json
    assert lines["total"] == 2
    newest, oldest = lines["items"]
    assert (newest["amount"], newest["balance_after"]) == (-3 * UNIT, 7 * UNIT)
    assert (oldest["amount"], oldest["balance_after"]) == (10 * UNIT, 10 * UNIT)


def test_impact_is_open_to_every_role(client, token, lender_a) -> None:
    for headers in (token("operator"), token("lender", lender_a.id), token("field_partner", 1)):
        response = client.get("/api/v1/impact", headers=headers)
        assert response.status_code == 200 and "repayment_rate" in response.json
    mine = client.get(f"/api/v1/lenders/{lender_a.id}/impact",
                      headers=token("lender", lender_a.id)).json
    assert mine["borrowers_reached"] == 0 and mine["women_share"] is None


# --- auto-lend -------------------------------------------------------------------------


def test_autolend_settings_round_trip_and_place_money(client, token, world, session, worker,
                                                      lender_a) -> None:
    loan = world.loan(5 * UNIT, sector="farming")
    headers = token("lender", lender_a.id)
    url = f"/api/v1/lenders/{lender_a.id}/autolend"
    assert client.get(url, headers=headers).json["enabled"] is False

    body = {"enabled": True, "sectors": ["farming"], "max_per_loan": 2 * UNIT, "reserve": 0}
    saved = client.put(url, json=body, headers=headers)
    assert saved.status_code == 200 and saved.json["sectors"] == ["farming"]
    assert client.get(url, headers=headers).json["max_per_loan"] == 2 * UNIT

    worker.run()
    session.expire_all()
    assert lenders.wallet_balance(session, lender_a.id) == 8 * UNIT
    assert session.query(LoanFunding).filter_by(loan_id=loan.id).one().shares == 2


@pytest.mark.parametrize(("body", "field"), [
    ({}, "enabled"), ({"enabled": "yes"}, "enabled"),
    ({"enabled": True, "sectors": "farming"}, "sectors"),
    ({"enabled": True, "max_per_loan": 0}, "max_per_loan"),
    ({"enabled": True, "max_risk_rating": 6}, "max_risk_rating"),
    ({"enabled": True, "reserve": -1}, "reserve"),
    ({"enabled": True, "colour": "red"}, "colour"),
])
def test_autolend_settings_are_validated(client, token, lender_a, body, field) -> None:
    response = client.put(f"/api/v1/lenders/{lender_a.id}/autolend", json=body,
                          headers=token("lender", lender_a.id))
    assert response.status_code == 400 and response.json["error"]["field"] == field


def test_the_openapi_document_describes_the_lender_api(client) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"post"} <= set(paths["/lenders/{lender_id}/fund"])
    assert {"get", "put"} <= set(paths["/lenders/{lender_id}/autolend"])
    assert "get" in paths["/loans/fundraising"] and "get" in paths["/impact"]


def test_a_lender_chooses_how_repayments_are_told(client, token, lender_a) -> None:
    headers = token("lender", lender_a.id)
    url = f"/api/v1/lenders/{lender_a.id}/notifications"
    assert client.get(url, headers=headers).json == {"lender_id": lender_a.id,
                                                     "repayment_sms": "digest"}
    response = client.put(url, json={"repayment_sms": "each"}, headers=headers)
    assert response.status_code == 200 and response.json["repayment_sms"] == "each"
    assert client.get(url, headers=headers).json["repayment_sms"] == "each"


@pytest.mark.parametrize("body", [{}, {"repayment_sms": "weekly"}, {"repayment_sms": 1}])
def test_a_bad_notification_choice_is_a_400(client, token, lender_a, body) -> None:
    response = client.put(f"/api/v1/lenders/{lender_a.id}/notifications", json=body,
                          headers=token("lender", lender_a.id))
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_repayment_sms"


def test_a_lender_cannot_read_anothers_notifications(client, token, world, lender_a) -> None:
    other = world.lender()
    response = client.get(f"/api/v1/lenders/{other.id}/notifications",
                          headers=token("lender", lender_a.id))
    assert response.status_code == 404
