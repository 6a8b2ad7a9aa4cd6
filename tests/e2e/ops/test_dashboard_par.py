"""The dashboard shows portfolio at risk: the card and the chart's lines."""

from __future__ import annotations

import re


def test_a_loan_a_month_late_shows_as_par30_on_the_dashboard(signed_in, apps, clock) -> None:
    apps.active(apps.partner())  # KES 1,000 over 4 weeks, nothing repaid
    clock.advance(days=40)  # the first installment is 33 days past due
    html = signed_in("viewer").get("/ops/").text

    card = re.search(r"<span>PAR30</span><strong>([^<]*)</strong>", html)
    assert card is not None and card.group(1) == "100.00%"
    par_chart = html[html.index('aria-label="Portfolio at risk"'):]
    par_chart = par_chart[:par_chart.index("</svg>")]
    assert "<polyline" in par_chart
    assert "PAR1: 100%" in par_chart and "PAR30: 100%" in par_chart


def test_a_loan_paid_out_today_is_not_at_risk(signed_in, apps) -> None:
    apps.active(apps.partner())
    html = signed_in("viewer").get("/ops/").text
    card = re.search(r"<span>PAR30</span><strong>([^<]*)</strong>", html)
    assert card is not None and card.group(1) == "0.00%"
