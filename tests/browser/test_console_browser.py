"""The console in headless Chromium against a live server: sign in, approve, resolve.

The server runs in a thread on committed data (`committed_db`), with CSRF on as
in production; Debian's Chromium is driven by Playwright. Screenshots go to
artifacts/ (not committed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.operators import create_operator
from lending.models import Loan
from payments.breaks import record_break
from payments.models import ReconciliationBreak

from support.ops_world import PASSWORD, Applications

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def console_url(live_app) -> str:
    """The app, CSRF protection on, served on a free port of 127.0.0.1."""
    return live_app.config["LIVE_URL"]


@pytest.fixture
def page(browser_page) -> Any:
    return browser_page


@pytest.fixture
def committed(runtime) -> Any:
    """Run setup code in its own committed transaction."""
    def run(build: Any) -> Any:
        with runtime.db.transaction() as session:
            return build(session)

    return run


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/ops/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/ops/")


def make_operator(session: Any, email: str, role: str) -> str:
    create_operator(session, email=email, password=PASSWORD, role=role)
    return email


def test_signing_in_shows_the_dashboard_with_its_charts(page, console_url, committed) -> None:
    email = committed(lambda s: make_operator(s, "viewer@mkopo.test", "viewer"))
    page.goto(f"{console_url}/ops/")
    shoot(page, "login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "wrong email or password"
    sign_in(page, console_url, email)
    assert page.locator("svg.chart").count() == 5
    assert "viewer@mkopo.test" in page.locator("header").inner_text()
    shoot(page, "dashboard")


def test_an_approver_approves_an_application(page, console_url, committed) -> None:
    def setup(session: Any) -> tuple[str, int]:
        apps = Applications(session, commit=False)
        loan = apps.pending(apps.partner())
        return make_operator(session, "approver@mkopo.test", "approver"), loan.id

    email, loan_id = committed(setup)
    sign_in(page, console_url, email)
    page.get_by_role("link", name="Applications").click()
    reference = committed(lambda s: s.get(Loan, loan_id).reference)
    shoot(page, "applications")
    page.get_by_role("button", name=f"Approve {reference}").click()
    assert f"Loan {reference} approved." in page.get_by_role("status").inner_text()
    shoot(page, "application-approved")
    assert committed(lambda s: s.get(Loan, loan_id).status) == "fundraising"


def test_a_reconciler_resolves_a_break(page, console_url, committed) -> None:
    def setup(session: Any) -> tuple[str, int]:
        item = record_break(session, "statement_without_ledger", "line:TKS7M6N5B4",
                            amount=120_000, receipt="TKS7M6N5B4",
                            details={"account_reference": "WRONGREF", "direction": "in"})
        session.flush()
        return make_operator(session, "reconciler@mkopo.test", "reconciler"), item.id

    email, break_id = committed(setup)
    sign_in(page, console_url, email)
    page.get_by_role("link", name="Reconciliation").click()
    shoot(page, "queue")
    page.get_by_role("link", name=str(break_id), exact=True).click()
    page.get_by_label("Action").select_option("write_off")
    page.get_by_label("Reason").fill("unclaimed after 90 days; payer unknown")
    page.get_by_role("button", name="Resolve").click()
    assert "resolved" in page.get_by_role("status").inner_text()
    assert "recon.write_off" in page.locator("ul.trail").inner_text()
    shoot(page, "break-resolved")
    status = committed(lambda s: s.scalar(select(ReconciliationBreak.status).where(
        ReconciliationBreak.id == break_id)))
    assert status == "resolved"
