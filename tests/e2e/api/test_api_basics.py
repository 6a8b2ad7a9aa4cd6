"""The API's shared behaviour: keys, roles, errors, the OpenAPI document, the trial balance."""

import ledger
from ledger import MOBILE_MONEY_FLOAT, credit, debit, lender_wallet


def test_openapi_document_describes_the_routes(client) -> None:
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert "get" in spec["paths"]["/ledger/trial-balance"]


def test_a_request_without_a_key_is_401_json(client) -> None:
    response = client.get("/api/v1/ledger/trial-balance")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_a_wrong_role_is_403(client, api_token, auth) -> None:
    response = client.get("/api/v1/ledger/trial-balance", headers=auth(api_token("lender", 1)))
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"


def test_trial_balance_lists_accounts_and_totals_zero(client, session, api_token, auth) -> None:
    ledger.post(session, "api-dep", "deposit",
                [debit(MOBILE_MONEY_FLOAT, 12_345), credit(lender_wallet(5), 12_345)])
    session.commit()
    body = client.get("/api/v1/ledger/trial-balance", headers=auth(api_token("operator"))).json
    assert body["totals"] == {"KES": 0} and body["balanced"] is True
    balances = {a["code"]: a["normal_balance"] for a in body["accounts"]}
    assert balances == {"asset:mpesa:float": 12_345, "liability:member:5:wallet": 12_345}


def test_a_wrong_method_is_405_with_allow_and_a_json_error(client, api_token, auth) -> None:
    response = client.delete("/api/v1/ledger/trial-balance", headers=auth(api_token("operator")))
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET"}
    assert "DELETE" not in response.headers["Allow"]
    assert response.json["error"]["code"] == "method_not_allowed"


def test_the_document_states_path_limits_and_404s(client) -> None:
    document = client.get("/api/v1/openapi.json").json
    operation = document["paths"]["/loans/{loan_id}"]["get"]
    (loan_id,) = [p for p in operation["parameters"] if p["name"] == "loan_id"]
    assert loan_id["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
    assert "404" in operation["responses"]
    (limit,) = [p for p in document["paths"]["/loans"]["get"]["parameters"]
                if p["name"] == "limit"]
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 200)
