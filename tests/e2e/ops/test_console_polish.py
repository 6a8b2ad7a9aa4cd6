"""What an operator reads: numbers right-aligned under their headers, audit details as words,
an icon for the tab; on the demo data, so that every table has rows."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from devtools.demo import seed
from gateway.ops_models import audit
from lending.models import Loan
from savings.models import Chama

PAGES = ["/ops/", "/ops/reconciliation", "/ops/reconciliation/statements",
         "/ops/reconciliation/approvals", "/ops/applications", "/ops/members", "/ops/payouts",
         "/ops/loans", "/ops/impact", "/ops/learning", "/ops/savings", "/ops/insurance",
         "/ops/sms", "/ops/jobs", "/ops/audit"]
MONEY = re.compile(r"^-?KES [\d,]+(\.\d\d)?$")


class Tables(HTMLParser):
    """Every table's header cells and body rows: (classes, text) per cell."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, list]] = []
        self.cell: list | None = None
        self.row: list | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append({"head": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.row = []
        elif tag in ("th", "td") and self.row is not None:
            attributes = dict(attrs)
            self.cell = [set((attributes.get("class") or "").split()),
                         int(attributes.get("colspan") or 1), ""]

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self.cell is not None and self.row is not None:
            self.row.append((tag, *self.cell[:2], self.cell[2].strip()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            kinds = {cell[0] for cell in self.row}
            self.tables[-1]["head" if kinds == {"th"} else "rows"].append(self.row)
            self.row = None


def tables_of(html: str) -> list[dict[str, list]]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


@pytest.fixture
def demo(session, clock):
    seed(session)
    session.commit()
    return session


def pages(session) -> list[str]:
    loan = session.scalar(select(Loan.id).where(Loan.status == "active"))
    chama = session.scalar(select(Chama.id))
    return [*PAGES, f"/ops/loans/{loan}", f"/ops/savings/chamas/{chama}"]


def test_numbers_are_right_aligned_under_right_aligned_headers(demo, signed_in) -> None:
    client = signed_in("admin")
    checked = 0
    for page in pages(demo):
        response = client.get(page)
        assert response.status_code == 200, page
        for table in tables_of(response.text):
            if not table["head"]:
                continue
            head = table["head"][0]
            numeric_headers = {n for n, cell in enumerate(head) if "num" in cell[1]}
            for row in table["rows"]:
                if len(row) != len(head) or any(cell[2] > 1 for cell in row):
                    continue  # "nothing here" rows span the table
                for n, (_, classes, _, text) in enumerate(row):
                    aligned = "num" in classes
                    assert aligned == (n in numeric_headers), (page, head[n][3], text)
                    if MONEY.match(text):
                        assert aligned, (page, head[n][3], text)
                        checked += 1
    assert checked >= 20  # the demo data has money in many tables


def test_the_audit_log_shows_details_as_words_not_json(session, signed_in) -> None:
    audit(session, actor="grace@mkopo.test", action="payout.approve", subject_type="payment_intent",
          subject_id=7, reason="checked the ID", before={"status": "awaiting_approval"},
          after={"status": "queued", "approved_by": None, "sim_swap": {"checked": True}})
    session.commit()
    html = signed_in("admin").get("/ops/audit?subject=payment_intent").text
    row = html[html.index("payout.approve"):]
    row = row[:row.index("</tr>")]
    assert "{&#34;" not in row and '{"' not in row and "null" not in row
    assert "<dt>status</dt><dd>awaiting_approval</dd>" in row
    assert "<dt>approved by</dt><dd>–</dd>" in row
    assert "<dt>sim swap</dt><dd><dl class=\"details\"><dt>checked</dt><dd>yes</dd></dl>" in row


def test_an_audit_detail_is_escaped(session, signed_in) -> None:
    audit(session, actor="x", action="member.reject", subject_type="member", subject_id=1,
          after={"<b>": "<script>alert(1)</script>"})
    session.commit()
    html = signed_in("admin").get("/ops/audit?subject=member").text
    assert "<script>alert" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("page", ["/ops/login", "/simulator", "/transparency"])
def test_every_page_links_an_icon_that_is_served(client, page) -> None:
    html = client.get(page).text
    (href,) = re.findall(r'<link rel="icon" href="([^"]+)"', html)
    with client.get(href) as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
        assert icon.data.startswith(b"<svg")


def test_the_browsers_own_favicon_request_is_answered(client) -> None:
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200
