"""Maker-checker compares people: an operator's API keys and console session are one person."""

from __future__ import annotations

from gateway.api_keys import create_api_key
from payments.breaks import record_break


def bearer(session, operator) -> dict[str, str]:
    _, token = create_api_key(session, role="operator", owner_id=operator.id)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def big_write_off(app, session, headers, receipt: str) -> int:
    """Ask (as the maker) to write off a break big enough to need a second person."""
    item = record_break(session, "statement_without_ledger", f"line:{receipt}",
                        amount=2_000_000, receipt=receipt)
    session.commit()
    asked = app.test_client().post(f"/api/v1/reconciliation/breaks/{item.id}/resolve",
                                   json={"action": "write_off", "reason": "unclaimed"},
                                   headers=headers)
    assert asked.status_code == 202, asked.text
    return int(asked.json["pending_action"]["id"])


def test_the_maker_cannot_approve_with_a_second_key(app, session, operator) -> None:
    maker = operator("approver")
    action = big_write_off(app, session, bearer(session, maker), "MCP1")
    again = app.test_client().post(f"/api/v1/reconciliation/actions/{action}/approve",
                                   headers=bearer(session, maker))
    assert again.status_code == 409 and again.json["error"]["code"] == "same_person"


def test_the_maker_cannot_approve_in_the_console_what_they_asked_by_api(
        app, session, operator, signed_in) -> None:
    console = signed_in("approver")
    action = big_write_off(app, session, bearer(session, console.operator), "MCP2")
    console.post(f"/ops/reconciliation/actions/{action}/approve", data={"reason": "ok"})
    page = console.get("/ops/reconciliation/approvals").text
    assert "a different person must approve this action" in page
    assert f"/ops/reconciliation/actions/{action}/" in page or "another person decides" in page


def test_the_approver_must_hold_the_approver_role(app, session, operator) -> None:
    action = big_write_off(app, session, bearer(session, operator("approver")), "MCP3")
    clerk = bearer(session, operator("reconciler"))
    refused = app.test_client().post(f"/api/v1/reconciliation/actions/{action}/approve",
                                     headers=clerk)
    assert refused.status_code == 403
    rejected = app.test_client().post(f"/api/v1/reconciliation/actions/{action}/reject",
                                      json={"reason": "not mine to refuse"}, headers=clerk)
    assert rejected.status_code == 403


def test_another_approver_approves_by_api(app, session, operator) -> None:
    action = big_write_off(app, session, bearer(session, operator("reconciler")), "MCP4")
    checker = operator("approver")
    approved = app.test_client().post(f"/api/v1/reconciliation/actions/{action}/approve",
                                      headers=bearer(session, checker))
    assert approved.status_code == 200, approved.text
    assert approved.json["break"]["status"] == "resolved"
    resolved = approved.json["break"]
    assert resolved["resolved_by"].count("[operator:") == 1  # the maker, named once
    assert f"approved by {checker.email} [operator:{checker.id}]" in resolved["resolution"]
