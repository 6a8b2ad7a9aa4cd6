"""The console's Insurance page: the loss ratio, the claims to decide, maker-checker."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from gateway.operators import create_operator
from insurance import claims
from insurance.models import Claim
from lending.models import Member

PASSWORD = "correct horse battery 9"
DAY = "2026-03-02"
_n = itertools.count(1)


def signed_in(app, session, role: str, field_partner_id: int | None = None):
    who = create_operator(session, email=f"bima-{role}{next(_n)}@mkopo.test", password=PASSWORD,
                          role=role, field_partner_id=field_partner_id)
    session.commit()
    client = app.test_client()
    response = client.post("/ops/login", data={"email": who.email, "password": PASSWORD})
    assert response.status_code == 302, response.text
    client.operator = who
    return client


def test_the_page_shows_the_loss_ratio_and_the_claims_waiting(app, insured, session) -> None:
    policy = insured.hospital_cash()
    insured.capital(1_000_000)
    claim = claims.file_claim(session, policy_id=policy.id, cause="hospital",
                              event_date=insured.session.get(type(policy), policy.id).starts_on,
                              nights=2, filed_by="member:1", channel="ussd",
                              idempotency_key="page")
    session.commit()
    approver = signed_in(app, session, "approver")
    page = approver.get("/ops/insurance").text
    assert "Premiums earned" in page and "KES 150" in page
    assert f"C{claim.id}" in page and "Approve and pay" in page
    assert "Loss ratio" in page and '<strong id="loss-ratio">0.0%</strong>' in page
    member = session.get(Member, policy.member_id)
    name = " ".join(p for p in (member.first_name, member.last_name) if p)
    assert page.count(f"<td>{name}</td>") == 2  # the claim waiting and the policy, by name

    done = approver.post(f"/ops/insurance/claims/{claim.id}/approve", data={})
    assert done.status_code == 302
    insured.settle()
    assert insured.claim(claim.id).status == "paid"
    page = approver.get("/ops/insurance").text
    assert '<strong id="loss-ratio">666.7%</strong>' in page  # KES 1,000 paid / KES 150


def test_an_officer_files_and_cannot_decide_their_own_claim(app, insured, session) -> None:
    loan = insured.covered_loan()
    policy = insured.policy_of(loan)
    session.commit()
    approver = signed_in(app, session, "approver")
    filed = approver.post("/ops/insurance/claims", data={
        "policy_id": str(policy.id), "cause": "death", "event_date": DAY, "nonce": "1"})
    assert filed.status_code == 302
    claim = session.scalar(select(Claim))
    assert (claim.channel, claim.filed_by) == ("console", f"operator:{approver.operator.id}")
    assert "you filed it" in approver.get("/ops/insurance").text
    approver.post(f"/ops/insurance/claims/{claim.id}/reject", data={"reason": "mine"})
    session.expire_all()
    assert session.get(Claim, claim.id).status == "filed"  # refused: same person
    other = signed_in(app, session, "approver")
    other.post(f"/ops/insurance/claims/{claim.id}/reject", data={"reason": "no certificate"})
    session.expire_all()
    assert session.get(Claim, claim.id).status == "rejected"


def test_a_partner_officer_sees_only_their_borrowers_and_cannot_decide(app, insured,
                                                                       session) -> None:
    partner = insured.partner()
    ours = insured.covered_loan(borrower=insured.member(partner=partner))
    theirs = insured.covered_loan()
    session.commit()
    officer = signed_in(app, session, "approver", field_partner_id=partner.id)
    page = officer.get("/ops/insurance").text
    assert ours.reference in page and theirs.reference not in page
    assert "Premiums earned" not in page  # the pool is the platform's business
    officer.post("/ops/insurance/claims", data={
        "policy_id": str(insured.policy_of(theirs).id), "cause": "death", "event_date": DAY})
    assert session.scalar(select(Claim)) is None
    officer.post("/ops/insurance/claims", data={
        "policy_id": str(insured.policy_of(ours).id), "cause": "death", "event_date": DAY,
        "nonce": "7"})
    claim = session.scalar(select(Claim))
    assert claim is not None and claim.channel == "console"
    assert officer.post(f"/ops/insurance/claims/{claim.id}/approve").status_code == 403


def test_a_viewer_reads_but_cannot_decide(app, insured, session) -> None:
    viewer = signed_in(app, session, "viewer")
    assert viewer.get("/ops/insurance").status_code == 200
    assert viewer.post("/ops/insurance/claims/1/approve").status_code == 403
