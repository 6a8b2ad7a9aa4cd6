"""The public transparency page in headless Chromium, on the demo data: figures render."""

from __future__ import annotations

from typing import Any

from devtools.demo import seed


def test_the_transparency_page_shows_figures_partners_impact_and_method(
        live_app, committed_db, browser_page, artifacts) -> None:
    with committed_db.transaction() as session:
        seed(session)
    page: Any = browser_page
    response = page.goto(live_app.config["LIVE_URL"] + "/transparency")
    assert response.status == 200
    figure = lambda name: page.locator(f"#platform [data-figure='{name}']").inner_text()  # noqa: E731
    assert figure("loans_disbursed") == "3"
    assert figure("amount_disbursed") == "KES 5,300"
    assert figure("women_share") == "66.7%"
    assert figure("repayment_rate").endswith("%")
    assert figure("operating_cost_ratio").endswith("%") and figure("operating_cost_ratio") != "–"
    assert figure("average_apr").endswith("%")
    partners = page.locator("#partners tbody tr")
    assert partners.count() == 1 and "Tujenge Microfinance" in partners.first.inner_text()
    impact = page.locator("#impact-platform")
    assert impact.is_visible()
    business = page.locator("#impact-platform [data-figure='change-business']").inner_text()
    assert business.startswith("+")
    assert "operating cost ratio" in page.locator("#method").inner_text()
    page.screenshot(path=str(artifacts / "transparency.png"), full_page=True)
