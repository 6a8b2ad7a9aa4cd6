"""Products and quotes over the API: every role, every refusal, the CONTRACT's quote."""

from __future__ import annotations

from typing import Any

import pytest

PRODUCT: dict[str, Any] = {
    "code": "BIASHARA", "name": "Biashara monthly", "currency": "KES",
    "min_amount": 100_000, "max_amount": 5_000_000, "terms": [3, 4, 6],
    "frequency": "monthly", "interest_method": "flat", "interest_rate": "24",
}


@pytest.fixture
def operator(api_token, auth) -> dict[str, str]:
    return auth(api_token("operator"))


@pytest.fixture
def product(client, operator) -> dict[str, Any]:
    response = client.post("/api/v1/products", json=PRODUCT, headers=operator)
    assert response.status_code == 201, response.json
    return response.json


def test_an_operator_creates_a_product(client, operator) -> None:
    response = client.post("/api/v1/products", json={**PRODUCT, "upfront_fee_percent": "1.5"},
                           headers=operator)
    assert response.status_code == 201
    body = response.json
    assert body["code"] == "BIASHARA" and body["terms"] == [3, 4, 6]
    assert body["interest_rate"] == "24" and body["upfront_fee_percent"] == "1.5"
    assert body["upfront_fee_flat"] == 0 and body["active"] is True


def test_a_taken_code_is_409(client, operator, product) -> None:
    response = client.post("/api/v1/products", json=PRODUCT, headers=operator)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "product_exists"


BAD_PRODUCTS = {
    "a caller-set id": ({"id": 7}, "id"),
    "a caller-set created_at": ({"created_at": "2026-01-01T00:00:00Z"}, "created_at"),
    "a caller-set active flag": ({"active": False}, "active"),
    "no name": ({"name": None}, "name"),
    "a float rate": ({"interest_rate": 24.5}, "interest_rate"),
    "a float amount": ({"min_amount": 1000.5}, "min_amount"),
    "min above max": ({"min_amount": 6_000_000}, "min_amount"),
    "no terms": ({"terms": []}, "terms"),
    "an unknown frequency": ({"frequency": "daily"}, "frequency"),
    "a bad code": ({"code": "no spaces"}, "code"),
    "a bad platform share": ({"platform_interest_share_percent": "120"},
                             "platform_interest_share_percent"),
}


@pytest.mark.parametrize("change, field", BAD_PRODUCTS.values(), ids=BAD_PRODUCTS.keys())
def test_a_bad_product_is_400_naming_the_field(client, operator, change, field) -> None:
    response = client.post("/api/v1/products", json={**PRODUCT, **change}, headers=operator)
    assert response.status_code == 400
    assert response.json["error"]["field"] == field


def test_a_body_that_is_not_json_is_400(client, operator) -> None:
    response = client.post("/api/v1/products", data="code=X", headers=operator)
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"


def test_a_body_nested_too_deeply_is_400_not_500(client, operator) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/products", data=deep, headers=operator,
                           content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"


def test_every_role_lists_products(client, api_token, auth, product) -> None:
    for token in (api_token("operator"), api_token("field_partner", 1), api_token("lender", 1)):
        body = client.get("/api/v1/products", headers=auth(token)).json
        assert [p["code"] for p in body["items"]] == ["BIASHARA"]


CONTRACT_QUOTE = {"installments", "total_repayable", "upfront_fee", "net_disbursed",
                  "total_cost_of_credit", "apr"}


def test_a_quote_follows_the_contract(client, api_token, auth, product) -> None:
    response = client.get("/api/v1/products/BIASHARA/quote?amount=1000000&term=4&start=2026-01-31",
                          headers=auth(api_token("lender", 9)))
    assert response.status_code == 200
    body = response.json
    assert CONTRACT_QUOTE <= set(body)
    assert [row["due_date"] for row in body["installments"]] == [
        "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]  # month ends
    assert {tuple(sorted(row)) for row in body["installments"]} == {
        ("due_date", "interest", "number", "principal", "total")}
    assert [row["total"] for row in body["installments"]] == [270_000] * 4
    assert body["total_repayable"] == 1_080_000 and body["upfront_fee"] == 0
    assert body["net_disbursed"] == 1_000_000 and body["total_cost_of_credit"] == 80_000
    assert isinstance(body["apr"], str) and body["apr"].count(".") == 1
    assert len(body["apr"].split(".")[1]) == 1


@pytest.mark.parametrize("args, field", [
    ("amount=99999&term=4", "amount"),
    ("amount=5000001&term=4", "amount"),
    ("amount=1000000&term=5", "term"),
    ("amount=ten&term=4", "amount"),
    ("term=4", "amount"),
    ("amount=1000000", "term"),
    ("amount=1000000&term=4&start=2026-02-30", "start"),
    ("amount=1000000&term=4&start=tomorrow", "start"),
], ids=["below min", "above max", "term not offered", "amount in words", "no amount", "no term",
        "impossible date", "date in words"])
def test_a_quote_the_product_does_not_allow_is_400(client, operator, product, args,
                                                    field) -> None:
    response = client.get(f"/api/v1/products/BIASHARA/quote?{args}", headers=operator)
    assert response.status_code == 400
    assert response.json["error"]["field"] == field


def test_quoting_an_unknown_product_is_404(client, operator) -> None:
    response = client.get("/api/v1/products/NOPE/quote?amount=1000&term=1", headers=operator)
    assert response.status_code == 404


def test_a_quote_without_start_runs_from_today(client, operator, product) -> None:
    response = client.get("/api/v1/products/BIASHARA/quote?amount=1000000&term=3",
                          headers=operator)
    assert response.status_code == 200 and len(response.json["installments"]) == 3


ROLE_TABLE = [
    # (role, method, path, expected status)
    ("operator", "POST", "/api/v1/products", 201),
    ("field_partner", "POST", "/api/v1/products", 403),
    ("lender", "POST", "/api/v1/products", 403),
    (None, "POST", "/api/v1/products", 401),
    ("operator", "GET", "/api/v1/products", 200),
    ("field_partner", "GET", "/api/v1/products", 200),
    ("lender", "GET", "/api/v1/products", 200),
    (None, "GET", "/api/v1/products", 401),
    ("operator", "GET", "/api/v1/products/BIASHARA/quote?amount=100000&term=3", 200),
    ("field_partner", "GET", "/api/v1/products/BIASHARA/quote?amount=100000&term=3", 200),
    ("lender", "GET", "/api/v1/products/BIASHARA/quote?amount=100000&term=3", 200),
    (None, "GET", "/api/v1/products/BIASHARA/quote?amount=100000&term=3", 401),
]


@pytest.mark.parametrize("role, method, path, status", ROLE_TABLE)
def test_roles_against_product_endpoints(client, api_token, auth, product, role, method, path,
                                         status) -> None:
    headers = auth(api_token(role, None if role == "operator" else 1)) if role else {}
    body = {**PRODUCT, "code": "OTHER"} if method == "POST" else None
    response = client.open(path, method=method, json=body, headers=headers)
    assert response.status_code == status


def test_the_openapi_document_describes_the_product_endpoints(client) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"get", "post"} <= set(paths["/products"])
    quote = paths["/products/{code}/quote"]["get"]
    assert {p["name"] for p in quote["parameters"]} == {"amount", "term", "start", "code"}
    assert "requestBody" in paths["/products"]["post"]
