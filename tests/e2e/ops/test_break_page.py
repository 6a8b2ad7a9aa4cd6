"""The break page: who paid (masked for viewer roles), no Python None, assign by loan reference."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import ledger
from payments.breaks import record_break
from payments.models import ReconciliationBreak
from payments.settlement import park_in_suspense

PAYER = "+254711987654"


def unmatched_paybill(session, receipt: str, amount: int = 26_000) -> ReconciliationBreak:
    """A paybill payment no loan matched, as the C2B path leaves it: in suspense, a break."""
    entry = park_in_suspense(session, amount=amount, receipt=receipt, at=None,
                             reason="no loan matches the account")
    item = record_break(session, "unmatched_c2b", f"c2b_confirmation:{receipt}",
                        amount=amount, receipt=receipt, phone=PAYER, journal_entry_id=entry.id,
                        details={"kind": "c2b_confirmation", "external_id": receipt,
                                 "outcome": "success", "result_code": None,
                                 "reference": "MAMA NJERI"})
    session.commit()
    return item


@pytest.mark.parametrize(("role", "shown"), [("viewer", "+254******654"),
                                             ("reconciler", "+254******654"),
                                             ("approver", PAYER)])
def test_the_payer_phone_is_shown_masked_for_viewer_roles(signed_in, session, role,
                                                          shown) -> None:
    item = unmatched_paybill(session, f"BPP{role[:3].upper()}1")
    page = signed_in(role).get(f"/ops/reconciliation/breaks/{item.id}").text
    assert f"<dt>Payer phone</dt><dd>{shown}</dd>" in page
    if shown != PAYER:
        assert PAYER not in page


def test_the_page_never_shows_python_none(signed_in, session) -> None:
    item = unmatched_paybill(session, "BPN1")
    bare = record_break(session, "stale_pending", "intent:BPN2", amount=None,
                        details={"note": None, "first_amount": None, "nested": {"a": None}})
    session.commit()
    client = signed_in("approver")
    for break_id in (item.id, bare.id):
        page = client.get(f"/ops/reconciliation/breaks/{break_id}").text
        assert "None" not in page and "{'" not in page and "True" not in page
    assert "nested</dt><dd>a: –</dd>" in client.get(
        f"/ops/reconciliation/breaks/{bare.id}").text


def test_assigning_by_loan_reference_repays_that_loan(signed_in, apps, session) -> None:
    loan = apps.active(apps.partner())
    item = unmatched_paybill(session, "BPA1")
    client = signed_in("reconciler")
    page = client.get(f"/ops/reconciliation/breaks/{item.id}").text
    assert 'name="loan_reference"' in page and 'name="loan_id"' not in page
    typed = " ".join(loan.reference.lower())  # as a person might type it
    client.post(f"/ops/reconciliation/breaks/{item.id}/resolve",
                data={"action": "assign", "loan_reference": typed,
                      "reason": "the payer named the borrower"})
    session.refresh(item)
    assert item.status == "resolved" and item.loan_id == loan.id
    page = client.get(f"/ops/reconciliation/breaks/{item.id}").text
    assert f">{loan.reference}</a>" in page and f"on loan {loan.reference}" in page
    assert ledger.verify(session).ok and ledger.balance(session, ledger.SUSPENSE) == 0


def test_an_unknown_loan_reference_is_explained_and_changes_nothing(signed_in, session) -> None:
    item = unmatched_paybill(session, "BPU1")
    client = signed_in("reconciler")
    client.post(f"/ops/reconciliation/breaks/{item.id}/resolve",
                data={"action": "assign", "loan_reference": "ML-NOPE",
                      "reason": "guessing"})
    session.refresh(item)
    assert item.status == "open"
    assert "No loan ML-NOPE" in client.get(f"/ops/reconciliation/breaks/{item.id}").text


def test_the_api_assigns_by_loan_reference(client, apps, session, operator) -> None:
    from gateway.api_keys import create_api_key

    loan = apps.active(apps.partner())
    item = unmatched_paybill(session, "BPI1")
    _, token = create_api_key(session, role="operator", owner_id=operator("admin").id)
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/reconciliation/breaks/{item.id}/resolve"
    unknown = client.post(path, headers=headers, json={
        "action": "assign", "reason": "named", "loan_reference": "ML-NOPE"})
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "unknown_loan"
    both = client.post(path, headers=headers, json={
        "action": "assign", "reason": "named", "loan_reference": loan.reference,
        "loan_id": loan.id})
    assert both.status_code == 400
    done = client.post(path, headers=headers, json={
        "action": "assign", "reason": "named", "loan_reference": loan.reference})
    assert done.status_code == 200 and done.json["break"]["loan_id"] == loan.id


def test_the_demo_opens_with_breaks_in_the_queue(signed_in, session) -> None:
    from devtools.demo import seed

    seed(session)
    session.commit()
    open_breaks = list(session.scalars(select(ReconciliationBreak).where(
        ReconciliationBreak.status == "open")))
    assert len(open_breaks) >= 3
    assert ledger.verify(session).ok
    queue = signed_in("viewer").get("/ops/reconciliation").text
    assert "No open breaks" not in queue and "unmatched c2b" in queue.replace("_", " ")


def test_a_poison_callback_break_tells_the_operator_why(signed_in, session, worker,
                                                        fixture_payload) -> None:
    import json

    body = fixture_payload("daraja_b2c_result_success.json")
    del body["Result"]["OriginatorConversationID"]
    client = signed_in("viewer")
    response = client.post("/mpesa/test-callback-token/b2c/result", data=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    assert response.json == {"ResultCode": 0, "ResultDesc": "Accepted"}
    worker.run()
    item = session.scalar(select(ReconciliationBreak))
    assert item is not None
    page = client.get(f"/ops/reconciliation/breaks/{item.id}").text
    assert f"Break {item.id}: unprocessable callback" in page
    assert "cannot be applied: B2C result.Result.OriginatorConversationID is missing" in page
    assert f"inbox row {item.inbox_id} (raw body kept)" in page
    assert "GRACE WANJIKU" not in page  # the raw body stays in the inbox, not on the page
