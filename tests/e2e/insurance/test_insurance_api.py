"""The insurance API: partners file, operators decide (never their own filing), the pool."""

from __future__ import annotations

import itertools

import pytest

from gateway.api_keys import create_api_key
from gateway.operators import create_operator

DAY = "2026-03-02"
_operators = itertools.count(1)


@pytest.fixture
def token(session):
    def make(role: str, owner_id: int | None = None) -> dict[str, str]:
        if role == "operator" and owner_id is None:  # an operator key acts for a person
            owner_id = create_operator(session, email=f"ins-op-{next(_operators)}@mkopo.test",
                                       password="correct horse battery", role="admin").id
        _, secret = create_api_key(session, role=role, owner_id=owner_id)
        session.commit()
        return {"Authorization": f"Bearer {secret}"}

    return make


def covered(insured):
    partner = insured.partner()
    borrower = insured.member(partner=partner)
    loan = insured.covered_loan(borrower=borrower)
    return partner, loan, insured.policy_of(loan)


def test_a_partner_files_and_an_operator_settles_the_loan(client, insured, token) -> None:
    partner, loan, policy = covered(insured)
    insured.capital(500_000)
    insured.session.commit()
    partner_key, operator_key = token("field_partner", partner.id), token("operator")

    listed = client.get("/api/v1/insurance/policies", headers=partner_key).get_json()
    assert [(p["id"], p["kind"], p["loan_reference"], p["premium"]) for p in listed["items"]] == [
        (policy.id, "credit_life", loan.reference, 1_500)]
    body = {"policy_id": policy.id, "cause": "death", "event_date": DAY,
            "idempotency_key": "cert-42"}
    filed = client.post("/api/v1/insurance/claims", json=body, headers=partner_key)
    assert filed.status_code == 201
    claim = filed.get_json()
    assert (claim["status"], claim["channel"], claim["kind"]) == ("filed", "api", "credit_life")
    again = client.post("/api/v1/insurance/claims", json=body, headers=partner_key)
    assert again.status_code == 200 and again.get_json()["id"] == claim["id"]

    no = client.post(f"/api/v1/insurance/claims/{claim['id']}/approve", json={},
                     headers=partner_key)
    assert no.status_code == 403  # a partner files; only an operator decides
    paid = client.post(f"/api/v1/insurance/claims/{claim['id']}/approve",
                       json={"reason": "certificate seen"}, headers=operator_key)
    assert paid.status_code == 200, paid.get_json()
    assert (paid.get_json()["status"], paid.get_json()["amount"]) == ("paid", 104_000)
    loan_now = client.get(f"/api/v1/loans/{loan.id}", headers=operator_key).get_json()
    assert loan_now["status"] == "repaid"
    summary = client.get("/api/v1/insurance/summary", headers=operator_key).get_json()
    assert summary == {"currency": "KES", "premiums_earned": 1_500, "claims_paid": 104_000,
                       "pool_balance": 501_500 - 104_000, "benefits_in_flight": 0,
                       "loss_ratio": "6933.3"}
    insured.assert_sound()


def test_the_operator_who_filed_cannot_decide(client, insured, token) -> None:
    _, _, policy = covered(insured)
    operator = token("operator")
    claim = client.post("/api/v1/insurance/claims", headers=operator, json={
        "policy_id": policy.id, "cause": "disability", "event_date": DAY,
        "idempotency_key": "x"}).get_json()
    refused = client.post(f"/api/v1/insurance/claims/{claim['id']}/reject", headers=operator,
                          json={"reason": "no"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "same_person"
    other = client.post(f"/api/v1/insurance/claims/{claim['id']}/reject",
                        headers=token("operator"), json={"reason": "not disabled"})
    assert other.status_code == 200 and other.get_json()["status"] == "rejected"


def test_a_partner_sees_only_its_own_borrowers_cover(client, insured, token) -> None:
    _, _, policy = covered(insured)
    stranger = token("field_partner", insured.partner().id)
    assert client.get("/api/v1/insurance/policies", headers=stranger).get_json()["total"] == 0
    filed = client.post("/api/v1/insurance/claims", headers=stranger, json={
        "policy_id": policy.id, "cause": "death", "event_date": DAY, "idempotency_key": "s"})
    assert filed.status_code == 404
    assert client.get("/api/v1/insurance/summary", headers=stranger).status_code == 403
    lender = token("lender", 1)
    assert client.get("/api/v1/insurance/claims", headers=lender).status_code == 403


@pytest.mark.parametrize(("body", "field"), [
    ({"cause": "death", "event_date": DAY, "idempotency_key": "k"}, "policy_id"),
    ({"policy_id": "1", "cause": "death", "event_date": DAY, "idempotency_key": "k"},
     "policy_id"),
    ({"policy_id": 0, "cause": "death", "event_date": DAY, "idempotency_key": "k"},
     "policy_id"),
    ({"policy_id": True, "cause": "death", "event_date": DAY, "idempotency_key": "k"},
     "policy_id"),
    ({"policy_id": 1, "cause": "death", "event_date": "02/03/2026", "idempotency_key": "k"},
     "event_date"),
    ({"policy_id": 1, "cause": "death", "event_date": DAY, "idempotency_key": ""},
     "idempotency_key"),
    ({"policy_id": 1, "cause": "death", "event_date": DAY, "idempotency_key": "k",
      "amount": 5}, "amount"),
    ({"policy_id": 1, "cause": ["death"], "event_date": DAY, "idempotency_key": "k"}, "cause"),
    ({"policy_id": 1, "cause": "death", "event_date": DAY, "idempotency_key": "k",
      "nights": 1.5}, "nights"),
])
def test_a_bad_claim_gets_a_400_naming_the_field(client, insured, token, body, field) -> None:
    _, _, policy = covered(insured)
    if type(body.get("policy_id")) is int and body["policy_id"] == 1:  # True == 1 too
        body = {**body, "policy_id": policy.id}
    response = client.post("/api/v1/insurance/claims", json=body, headers=token("operator"))
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["field"] == field


@pytest.mark.parametrize("path", [
    "/api/v1/insurance/claims?status=lost", "/api/v1/insurance/policies?kind=car",
    "/api/v1/insurance/claims?limit=0", "/api/v1/insurance/claims/999999",
])
def test_bad_queries_are_4xx(client, token, path) -> None:
    response = client.get(path, headers=token("operator"))
    assert 400 <= response.status_code < 500


def test_not_json_and_unknown_claims_are_4xx(client, token) -> None:
    operator = token("operator")
    assert client.post("/api/v1/insurance/claims", data="x",
                       headers=operator).status_code == 400
    assert client.post("/api/v1/insurance/claims/424242/approve", json={},
                       headers=operator).status_code == 404
    assert client.post("/api/v1/insurance/capital", json={"amount": -5, "idempotency_key": "k"},
                       headers=operator).status_code == 400


def test_the_openapi_document_describes_insurance(client) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path, method in [("/insurance/policies", "get"), ("/insurance/claims", "post"),
                         ("/insurance/claims/{claim_id}/approve", "post"),
                         ("/insurance/claims/{claim_id}/reject", "post"),
                         ("/insurance/summary", "get"), ("/insurance/capital", "post")]:
        assert method in paths[path], path
    quote = paths["/products/{code}/quote"]["get"]["responses"]["200"]["description"]
    assert "credit_life_premium" in quote and "cash_received" in quote


def test_the_quote_adds_the_premium_and_the_cash_received(client, insured, token) -> None:
    product = insured.product(code="SALAMA")
    insured.session.commit()
    quote = client.get(f"/api/v1/products/{product.code}/quote?amount=100000&term=4"
                       f"&start=2026-03-02", headers=token("lender", 1)).get_json()
    assert (quote["upfront_fee"], quote["net_disbursed"], quote["total_cost_of_credit"]) == (
        2_000, 98_000, 6_000)  # the CONTRACT's figures, unchanged by the cover
    assert (quote["credit_life_premium"], quote["cash_received"]) == (1_500, 96_500)
