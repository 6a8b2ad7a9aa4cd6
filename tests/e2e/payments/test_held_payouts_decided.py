"""Held payouts are decided in the console and the API, by an approver who did not make them."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from gateway.api_keys import create_api_key
from gateway.decisions import decide_application
from gateway.operators import create_operator, operator_actor
from gateway.ops_models import AuditEntry, Operator
from lending.applications import apply_for_loan
from lending.catalog import create_product
from lending.funding import fund_loan
from lending.models import Loan
from payments.models import PaymentIntent

PASSWORD = "correct horse battery"
PRODUCT: dict[str, Any] = {
    "name": "Kilimo weekly", "min_amount": 50_000, "max_amount": 10_000_000,
    "terms": [4, 8], "frequency": "weekly", "interest_method": "flat", "interest_rate": "52",
}
_n = itertools.count(1)


def person(session, role: str = "approver") -> Operator:
    made = create_operator(session, email=f"payouts-{role}-{next(_n)}@mkopo.test",
                           password=PASSWORD, role=role)
    session.commit()
    return made


def console(app, who: Operator) -> Any:
    client = app.test_client()
    assert client.post("/ops/login", data={"email": who.email, "password": PASSWORD}
                       ).status_code == 302
    return client


def big_loan_approved_by(session, loans, worker, approver: Operator) -> Loan:
    """A loan above the approval threshold, approved in the console by `approver`, funded."""
    amount = 6_000_000
    product = create_product(session, {**PRODUCT, "code": f"HP{next(_n)}"})
    borrower = loans.member(limit=amount)
    loan = apply_for_loan(session, member_id=borrower.id, product_code=product.code,
                          amount=amount, term=4, purpose="greenhouse",
                          idempotency_key=f"held-{next(_n)}")
    decide_application(session, loan, "approve", actor=str(operator_actor(approver)))
    lender = loans.lender(wallet=amount)
    fund_loan(session, loan_id=loan.id, lender_id=lender.id,
              shares=amount // product.share_unit, idempotency_key=f"hf-{next(_n)}")
    session.commit()
    worker.run()  # the payout intent is made, and held above the threshold
    return loan


def payout_of(session, loan: Loan) -> PaymentIntent:
    found = session.scalar(select(PaymentIntent).where(PaymentIntent.loan_id == loan.id,
                                                       PaymentIntent.kind == "disbursement"))
    assert found is not None
    session.refresh(found)
    return found


def test_an_approver_who_did_not_approve_the_loan_releases_its_payout_in_the_console(
        app, session, loans, worker, books) -> None:
    maker, checker = person(session), person(session)
    loan = big_loan_approved_by(session, loans, worker, maker)
    intent = payout_of(session, loan)
    assert intent.status == "awaiting_approval"
    page = console(app, checker).get("/ops/payouts").text
    assert loan.reference in page and "above the approval threshold" in page

    refused = console(app, maker)
    refused.post(f"/ops/payouts/{intent.id}/approve")
    assert "a different person must decide this payout" in refused.get("/ops/payouts").text
    assert payout_of(session, loan).status == "awaiting_approval"

    console(app, checker).post(f"/ops/payouts/{intent.id}/approve")
    worker.run()  # the B2C goes to the simulator, whose result comes back as a callback
    session.refresh(loan)
    assert loan.status == "active"
    assert payout_of(session, loan).approved_by.endswith(f"[operator:{checker.id}]")
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "payout.approve"))
    assert entry.subject_id == str(intent.id) and f"operator:{checker.id}" in entry.actor
    books.assert_sound()


def test_a_viewer_may_not_decide_payouts(app, session, loans, worker) -> None:
    loan = big_loan_approved_by(session, loans, worker, person(session))
    intent = payout_of(session, loan)
    viewer = console(app, person(session, "reconciler"))
    assert viewer.get("/ops/payouts").status_code == 403
    assert viewer.post(f"/ops/payouts/{intent.id}/approve").status_code == 403
    assert payout_of(session, loan).status == "awaiting_approval"


def test_declining_by_api_needs_a_reason_and_returns_the_loan_to_funded(
        app, session, loans, worker, books) -> None:
    maker, checker = person(session), person(session)
    loan = big_loan_approved_by(session, loans, worker, maker)
    intent = payout_of(session, loan)
    _, token = create_api_key(session, role="operator", owner_id=checker.id)
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    listed = client.get("/api/v1/payouts/held", headers=headers).json["items"]
    assert [(p["id"], p["loan_reference"]) for p in listed] == [(intent.id, loan.reference)]
    no_reason = client.post(f"/api/v1/payouts/{intent.id}/decline", json={}, headers=headers)
    assert no_reason.status_code == 400
    declined = client.post(f"/api/v1/payouts/{intent.id}/decline",
                           json={"reason": "borrower could not be reached"}, headers=headers)
    assert declined.status_code == 200 and declined.json["status"] == "cancelled"
    session.refresh(loan)
    assert loan.status == "funded"
    again = client.post(f"/api/v1/payouts/{intent.id}/approve", headers=headers)
    assert again.status_code == 409
    books.assert_sound()


def test_the_loan_approver_cannot_release_the_payout_by_api(app, session, loans, worker) -> None:
    maker = person(session)
    loan = big_loan_approved_by(session, loans, worker, maker)
    intent = payout_of(session, loan)
    _, token = create_api_key(session, role="operator", owner_id=maker.id)
    session.commit()
    response = app.test_client().post(f"/api/v1/payouts/{intent.id}/approve",
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 409 and response.json["error"]["code"] == "same_person"
    missing = app.test_client().post("/api/v1/payouts/987654/approve",
                                     headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404


def test_the_demo_dead_ends_open_in_the_console(app, session, sim, worker, clock) -> None:
    """Faraji waits for verification and Imani's payout for an operator: both move on."""
    from devtools.demo import BORROWERS, OPERATOR_EMAIL, OPERATOR_PASSWORD
    from gateway.demo_cli import seed_demo
    from lending.models import Member

    seed_demo(session)
    session.commit()
    admin = app.test_client()
    admin.post("/ops/login", data={"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD})
    faraji = session.scalar(select(Member).where(
        Member.phone == BORROWERS["unverified"].phone))
    assert "Faraji" in admin.get("/ops/members").text
    partner_id = admin.get(f"/ops/members/{faraji.id}").text.split(
        '<option value="')[1].split('"')[0]
    admin.post(f"/ops/members/{faraji.id}/verify", data={"field_partner_id": partner_id})
    session.refresh(faraji)
    assert faraji.status == "active"

    imani = session.scalar(select(Loan).join(Member, Member.id == Loan.borrower_id).where(
        Member.phone == BORROWERS["payout"].phone))
    intent = payout_of(session, imani)
    assert "Imani" in admin.get("/ops/payouts").text
    admin.post(f"/ops/payouts/{intent.id}/approve")
    worker.run()
    session.refresh(imani)
    assert imani.status == "active"
