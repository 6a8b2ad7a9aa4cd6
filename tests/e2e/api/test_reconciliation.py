"""Reconciliation breaks over the API: the queue, resolving, maker-checker between people."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import ledger
from gateway.ops_models import AuditEntry
from payments.breaks import record_break


@pytest.fixture
def operator(api_token, auth) -> dict[str, str]:
    return auth(api_token("operator"))


def unbooked(session, amount: int = 50_000, receipt: str = "TKS7M6N5B4"):
    item = record_break(session, "statement_without_ledger", f"line:{receipt}", amount=amount,
                        receipt=receipt, details={"account_reference": "WRONGREF"})
    session.commit()
    return item


def test_the_queue_lists_open_breaks_by_type(client, session, operator) -> None:
    first = unbooked(session, receipt="TKS0000001")
    unbooked(session, receipt="TKS0000002")
    record_break(session, "stale_pending", "intent:9", amount=100, intent_id=None)
    session.commit()
    body = client.get("/api/v1/reconciliation/breaks?type=statement_without_ledger&limit=1",
                      headers=operator).json
    assert body["total"] == 2 and body["items"][0]["id"] == first.id
    assert body["items"][0]["allowed_actions"] == ["assign", "refund", "write_off", "dismiss"]
    everything = client.get("/api/v1/reconciliation/breaks", headers=operator).json
    assert everything["total"] == 3
    closed = client.get("/api/v1/reconciliation/breaks?status=resolved", headers=operator).json
    assert closed["total"] == 0


@pytest.mark.parametrize("args, field", [("status=later", "status"), ("type=oops", "type"),
                                         ("limit=0", "limit")])
def test_bad_filters_are_400(client, operator, args, field) -> None:
    response = client.get(f"/api/v1/reconciliation/breaks?{args}", headers=operator)
    assert response.status_code == 400 and response.json["error"]["field"] == field


def test_writing_off_a_break_through_the_api(client, session, operator) -> None:
    item = unbooked(session, 12_300)
    response = client.post(f"/api/v1/reconciliation/breaks/{item.id}/resolve",
                           json={"action": "write_off", "reason": "unclaimed for 90 days"},
                           headers=operator)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "resolved"
    assert response.json["break"]["allowed_actions"] == []
    assert ledger.verify(session).ok and ledger.balance(session, ledger.SUSPENSE) == 0
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "recon.write_off"))
    assert "[operator:" in entry.actor and entry.before["status"] == "open"


@pytest.mark.parametrize("body, status, code", [
    ({"action": "explode", "reason": "x" * 5}, 400, "invalid_request"),
    ({"action": "dismiss"}, 400, "reason_required"),
    ({"action": "assign", "reason": "typo"}, 400, "loan_required"),
    ({"action": "assign", "reason": "typo", "loan_id": "7"}, 400, "invalid_request"),
    ({"action": "assign", "reason": "typo", "loan_id": 987654}, 404, "unknown_loan"),
    ({"action": "dismiss", "reason": "test", "status": "resolved"}, 400, "invalid_request"),
], ids=["unknown action", "no reason", "assign without loan", "loan id as text",
        "unknown loan", "a field a caller must not set"])
def test_bad_resolutions_are_refused(client, session, operator, body, status, code) -> None:
    item = unbooked(session)
    response = client.post(f"/api/v1/reconciliation/breaks/{item.id}/resolve", json=body,
                           headers=operator)
    assert response.status_code == status and response.json["error"]["code"] == code
    session.refresh(item)
    assert item.status == "open"


def test_a_closed_break_is_409_and_an_unknown_one_404(client, session, operator) -> None:
    item = unbooked(session)
    url = f"/api/v1/reconciliation/breaks/{item.id}/resolve"
    assert client.post(url, json={"action": "dismiss", "reason": "bank test"},
                       headers=operator).status_code == 200
    again = client.post(url, json={"action": "dismiss", "reason": "bank test"},
                        headers=operator)
    assert again.status_code == 409 and again.json["error"]["code"] == "break_closed"
    assert client.post("/api/v1/reconciliation/breaks/999999/resolve",
                       json={"action": "dismiss", "reason": "x" * 3},
                       headers=operator).status_code == 404


def test_big_money_needs_a_second_key(client, session, api_token, auth) -> None:
    maker, checker = auth(api_token("operator")), auth(api_token("operator"))
    item = unbooked(session, 2_500_000)
    asked = client.post(f"/api/v1/reconciliation/breaks/{item.id}/resolve",
                        json={"action": "write_off", "reason": "nobody claimed it"},
                        headers=maker)
    assert asked.status_code == 202 and asked.json["status"] == "pending_approval"
    action_id = asked.json["pending_action"]["id"]
    listed = client.get("/api/v1/reconciliation/actions", headers=checker).json
    assert [a["id"] for a in listed["items"]] == [action_id]
    same = client.post(f"/api/v1/reconciliation/actions/{action_id}/approve", headers=maker)
    assert same.status_code == 409 and same.json["error"]["code"] == "same_person"
    done = client.post(f"/api/v1/reconciliation/actions/{action_id}/approve", headers=checker)
    assert done.status_code == 200 and done.json["break"]["status"] == "resolved"
    twice = client.post(f"/api/v1/reconciliation/actions/{action_id}/approve", headers=checker)
    assert twice.status_code == 409
    assert ledger.verify(session).ok


def test_a_second_key_can_refuse(client, session, api_token, auth) -> None:
    maker, checker = auth(api_token("operator")), auth(api_token("operator"))
    item = unbooked(session, 2_500_000)
    asked = client.post(f"/api/v1/reconciliation/breaks/{item.id}/resolve",
                        json={"action": "refund", "reason": "not ours"}, headers=maker).json
    action_id = asked["pending_action"]["id"]
    refused = client.post(f"/api/v1/reconciliation/actions/{action_id}/reject",
                          json={"reason": "call the payer"}, headers=checker)
    assert refused.status_code == 200 and refused.json["status"] == "rejected"
    shown = client.get(f"/api/v1/reconciliation/breaks/{item.id}", headers=checker).json
    assert shown["status"] == "open" and shown["actions"][0]["status"] == "rejected"


ROLE_TABLE = [
    ("GET", "/api/v1/reconciliation/breaks", None),
    ("GET", "/api/v1/reconciliation/breaks/{id}", None),
    ("POST", "/api/v1/reconciliation/breaks/{id}/resolve",
     {"action": "dismiss", "reason": "role check"}),
    ("GET", "/api/v1/reconciliation/actions", None),
    ("POST", "/api/v1/reconciliation/actions/999999/approve", None),
    ("POST", "/api/v1/reconciliation/actions/999999/reject", {"reason": "role check"}),
]
EXPECTED = {"operator": {"GET": 200, "POST": 200}, "field_partner": 403, "lender": 403,
            None: 401}


@pytest.mark.parametrize("role", ["operator", "field_partner", "lender", None])
@pytest.mark.parametrize("method, path, body", ROLE_TABLE)
def test_roles_against_reconciliation_endpoints(client, session, api_token, auth, role, method,
                                                path, body) -> None:
    item = unbooked(session)
    headers = auth(api_token(role, None if role == "operator" else 1)) if role else {}
    response = client.open(path.format(id=item.id), method=method, json=body, headers=headers)
    expected = EXPECTED[role]
    if isinstance(expected, dict):
        expected = 404 if "999999" in path else expected[method]
    assert response.status_code == expected


def test_the_openapi_document_describes_every_endpoint_of_ours(client) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path, method in [("/products", "post"), ("/products", "get"),
                         ("/products/{code}/quote", "get"), ("/loans", "get"),
                         ("/loans/{loan_id}", "get"), ("/loans/{loan_id}/approve", "post"),
                         ("/loans/{loan_id}/reject", "post"),
                         ("/reconciliation/breaks", "get"),
                         ("/reconciliation/breaks/{break_id}", "get"),
                         ("/reconciliation/breaks/{break_id}/resolve", "post"),
                         ("/reconciliation/actions", "get"),
                         ("/reconciliation/actions/{action_id}/approve", "post"),
                         ("/reconciliation/actions/{action_id}/reject", "post")]:
        operation = paths[path][method]
        assert operation["summary"] and "Roles:" in operation["description"]
