"""Console pages: who may see what, and the actions behind the forms."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

import ledger
from gateway.ops_models import AuditEntry
from payments.breaks import record_break

PAGES = ["/ops/", "/ops/reconciliation", "/ops/reconciliation/statements",
         "/ops/reconciliation/approvals", "/ops/applications", "/ops/loans", "/ops/sms",
         "/ops/jobs", "/ops/audit"]
# page -> the least role that may open it
LEAST = {"/ops/": "viewer", "/ops/reconciliation": "viewer",
         "/ops/reconciliation/statements": "viewer", "/ops/reconciliation/approvals": "approver",
         "/ops/applications": "approver", "/ops/loans": "viewer", "/ops/sms": "viewer",
         "/ops/jobs": "admin", "/ops/audit": "approver"}
RANK = ["viewer", "reconciler", "approver", "admin"]
PARTNER_PAGES = {"/ops/", "/ops/applications", "/ops/loans"}


@pytest.mark.parametrize("role", RANK)
@pytest.mark.parametrize("page", PAGES)
def test_each_role_sees_the_pages_it_may(signed_in, role, page) -> None:
    expected = 200 if RANK.index(role) >= RANK.index(LEAST[page]) else 403
    assert signed_in(role).get(page).status_code == expected


@pytest.mark.parametrize("page", PAGES)
def test_a_field_partner_operator_sees_only_partner_pages(signed_in, apps, page) -> None:
    client = signed_in("approver", field_partner_id=apps.partner().id)
    assert client.get(page).status_code == (200 if page in PARTNER_PAGES else 403)


def test_the_dashboard_draws_its_charts_as_inline_svg(signed_in, session) -> None:
    record_break(session, "unmatched_c2b", "c2b:R1", amount=100, receipt="R1")
    session.commit()
    html = signed_in("viewer").get("/ops/").text
    assert html.count("<svg") == 5 and "Open breaks by type and age" in html
    assert "<script" not in html and "http://" not in html.replace(
        "http://www.w3.org/2000/svg", "")


def test_resolving_a_break_in_the_console(signed_in, session) -> None:
    item = record_break(session, "statement_without_ledger", "line:TKS1", amount=12_300,
                        receipt="TKS1")
    session.commit()
    client = signed_in("reconciler")
    page = client.get(f"/ops/reconciliation/breaks/{item.id}").text
    assert 'value="write_off"' in page and 'name="csrf_token"' in page
    response = client.post(f"/ops/reconciliation/breaks/{item.id}/resolve",
                           data={"action": "write_off", "reason": "unclaimed for 90 days"})
    assert response.status_code == 302
    session.refresh(item)
    assert item.status == "resolved" and ledger.verify(session).ok
    page = client.get(f"/ops/reconciliation/breaks/{item.id}").text
    assert "recon.write_off" in page and "unclaimed for 90 days" in page


def test_a_viewer_cannot_resolve(signed_in, session) -> None:
    item = record_break(session, "statement_without_ledger", "line:TKS2", amount=100,
                        receipt="TKS2")
    session.commit()
    response = signed_in("viewer").post(f"/ops/reconciliation/breaks/{item.id}/resolve",
                                        data={"action": "dismiss", "reason": "nope"})
    assert response.status_code == 403


def test_a_refused_resolution_is_explained(signed_in, session) -> None:
    item = record_break(session, "stale_pending", "intent:77", amount=100)
    session.commit()
    client = signed_in("reconciler")
    client.post(f"/ops/reconciliation/breaks/{item.id}/resolve",
                data={"action": "write_off", "reason": "try it"})
    assert "cannot be resolved by write_off" in client.get(
        f"/ops/reconciliation/breaks/{item.id}").text


def test_maker_checker_in_the_console(signed_in, session) -> None:
    item = record_break(session, "statement_without_ledger", "line:TKS3", amount=2_000_000,
                        receipt="TKS3")
    session.commit()
    maker, checker = signed_in("approver"), signed_in("approver")
    maker.post(f"/ops/reconciliation/breaks/{item.id}/resolve",
               data={"action": "write_off", "reason": "unclaimed"})
    session.refresh(item)
    assert item.status == "open"
    mine = maker.get("/ops/reconciliation/approvals").text
    assert "another person decides" in mine
    page = checker.get("/ops/reconciliation/approvals").text
    action_id = int(page.split("/ops/reconciliation/actions/")[1].split("/")[0])
    maker.post(f"/ops/reconciliation/actions/{action_id}/approve", data={})
    session.refresh(item)
    assert item.status == "open"  # the maker's own approval was refused
    checker.post(f"/ops/reconciliation/actions/{action_id}/approve", data={"reason": "ok"})
    session.refresh(item)
    assert item.status == "resolved"
    actions = [e.action for e in session.scalars(
        select(AuditEntry).where(AuditEntry.subject_type != "operator")
        .order_by(AuditEntry.id))]
    assert actions == ["recon.request.write_off", "recon.approve", "recon.write_off"]


def test_approving_and_rejecting_applications(signed_in, apps, session) -> None:
    partner = apps.partner()
    first, second = apps.pending(partner), apps.pending(partner)
    client = signed_in("approver")
    page = client.get("/ops/applications").text
    assert first.reference in page and second.reference in page
    client.post(f"/ops/applications/{first.id}/approve")
    client.post(f"/ops/applications/{second.id}/reject", data={"reason": "no collateral"})
    session.refresh(first)
    session.refresh(second)
    assert (first.status, second.status) == ("fundraising", "rejected")
    trail = client.get(f"/ops/loans/{second.id}").text
    assert "loan.reject" in trail and "no collateral" in trail


def test_a_partner_operator_sees_and_decides_only_its_own_applications(signed_in, apps,
                                                                       session) -> None:
    ours, theirs = apps.partner(), apps.partner()
    our_loan, their_loan = apps.pending(ours), apps.pending(theirs)
    client = signed_in("approver", field_partner_id=ours.id)
    page = client.get("/ops/applications").text
    assert our_loan.reference in page and their_loan.reference not in page
    assert client.post(f"/ops/applications/{their_loan.id}/approve").status_code == 404
    assert client.get(f"/ops/loans/{their_loan.id}").status_code == 404
    session.refresh(their_loan)
    assert their_loan.status == "pending_review"


@pytest.mark.parametrize("role, shown", [("viewer", "+254******678"),
                                          ("reconciler", "+254******678"),
                                          ("approver", "+254700000678"),
                                          ("admin", "+254700000678")])
def test_phone_numbers_are_masked_unless_the_role_needs_them(signed_in, apps, role,
                                                            shown) -> None:
    loan = apps.pending(apps.partner(), phone="+254700000678")
    page = signed_in(role).get("/ops/loans?q=" + loan.reference).text
    assert shown in page
    if "*" in shown:
        assert "+254700000678" not in page


def test_searching_loans_by_phone(signed_in, apps) -> None:
    loan = apps.pending(apps.partner(), phone="+254711000222")
    assert loan.reference in signed_in("admin").get("/ops/loans?q=0711000222").text


def test_sms_statistics(signed_in, session) -> None:
    from datetime import UTC, datetime

    from messaging.models import SmsMessage

    for n, status in enumerate(["success", "success", "failed"]):
        session.add(SmsMessage(idempotency_key=f"ops-sms-{n}", to_phone="+254700000001",
                               body="Hello", language="en", template="t",
                               category="transactional", status=status,
                               failure_reason="AbsentSubscriber" if status == "failed" else None,
                               created_at=datetime(2026, 3, 1, tzinfo=UTC)))
    session.commit()
    page = signed_in("viewer").get("/ops/sms").text
    assert "AbsentSubscriber" in page and "66.7%" in page and "<svg" in page


def test_uploading_a_statement_and_running_reconciliation(signed_in, session) -> None:
    from support.recon_rows import statement_bytes

    client = signed_in("reconciler")
    response = client.post("/ops/reconciliation/statements", data={
        "statement": (io.BytesIO(statement_bytes()), "day.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    client.post("/ops/reconciliation/run")
    page = client.get("/ops/reconciliation").text
    assert "statement without ledger" in page


def test_a_bad_statement_upload_lists_every_bad_line(signed_in, session) -> None:
    from support.recon_rows import statement_bytes

    bad = statement_bytes().replace(b"500.00", b"5OO.00")
    response = signed_in("reconciler").post("/ops/reconciliation/statements", data={
        "statement": (io.BytesIO(bad), "bad.csv")}, content_type="multipart/form-data")
    assert response.status_code == 400 and "line 2: Paid In" in response.text


def test_the_audit_log_page_filters(signed_in, session) -> None:
    from gateway.ops_models import audit

    audit(session, actor="someone", action="recon.dismiss", subject_type="reconciliation_break",
          subject_id=1, reason="because")
    session.commit()
    page = signed_in("admin").get("/ops/audit?subject=reconciliation_break").text
    assert "recon.dismiss" in page and "because" in page and "ops.login" not in page


def test_the_jobs_page_requeues_a_failed_job(signed_in, worker) -> None:
    from core.jobs import get_queue

    get_queue("default").enqueue(_explode)  # no retries: straight to the failed registry
    worker.run()
    client = signed_in("admin")
    page = client.get("/ops/jobs").text
    assert "RuntimeError: boom" in page
    job_id = page.split("/ops/jobs/default/")[1].split("/")[0]
    client.post(f"/ops/jobs/default/{job_id}/requeue")
    assert worker.pending() == 1


def _explode() -> None:
    raise RuntimeError("boom")


@pytest.mark.parametrize("value", ["²", "٣", "-1", "1e3", "9" * 30, "\u00a0"])
@pytest.mark.parametrize("page", ["/ops/reconciliation", "/ops/applications", "/ops/audit",
                                  "/ops/reconciliation/statements"])
def test_odd_paging_numbers_show_the_first_page(signed_in, page: str, value: str) -> None:
    client = signed_in("admin")
    for name in ("offset", "older_than", "loan_id"):
        assert client.get(page, query_string={name: value}).status_code == 200
