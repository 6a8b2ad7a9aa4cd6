"""Loans over the API: listing, showing, approving, rejecting; field partners see their own."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select

from gateway.ops_models import AuditEntry
from lending import members
from lending.applications import apply_for_loan
from lending.catalog import create_product
from lending.models import FieldPartner, Loan
from lending.protection import set_credit_limit

_n = itertools.count(1)


class Applications:
    """Pending applications from borrowers of a given field partner."""

    def __init__(self, session) -> None:
        self.session = session
        self.product = create_product(session, {
            "code": f"AL{next(_n)}", "name": "Weekly", "min_amount": 50_000,
            "max_amount": 5_000_000, "terms": [4], "frequency": "weekly",
            "interest_method": "flat", "interest_rate": "52"})

    def partner(self) -> FieldPartner:
        partner = FieldPartner(name=f"Partner {next(_n)}", region="Nakuru", risk_rating=3)
        self.session.add(partner)
        self.session.flush()
        return partner

    def pending(self, partner: FieldPartner, amount: int = 100_000) -> Loan:
        n = next(_n)
        member = members.register_member(
            self.session, phone=f"+25473{n:07d}", first_name=f"Akinyi{n}",
            national_id=f"AL{n}", pin="4821", language="en", consent=True)
        members.verify_member(self.session, member.id, partner.id, "officer")
        set_credit_limit(self.session, member.id, 1_000_000, actor="test", reason="setup")
        loan = apply_for_loan(self.session, member_id=member.id,
                              product_code=self.product.code, amount=amount, term=4,
                              purpose="sewing machine", idempotency_key=f"al-{n}")
        self.session.commit()
        return loan


@pytest.fixture
def apps(session, clock) -> Applications:
    return Applications(session)


@pytest.fixture
def two_partners(apps) -> dict[str, Any]:
    ours, theirs = apps.partner(), apps.partner()
    return {"ours": ours, "theirs": theirs, "our_loan": apps.pending(ours),
            "their_loan": apps.pending(theirs)}


def test_an_operator_lists_loans_by_status_with_pages(client, api_token, auth, apps) -> None:
    partner = apps.partner()
    loans = [apps.pending(partner) for _ in range(3)]
    headers = auth(api_token("operator"))
    body = client.get("/api/v1/loans?status=pending_review&limit=2", headers=headers).json
    assert body["total"] == 3 and body["next_offset"] == 2
    assert [item["id"] for item in body["items"]] == [loans[2].id, loans[1].id]
    rest = client.get("/api/v1/loans?status=pending_review&limit=2&offset=2",
                      headers=headers).json
    assert [item["id"] for item in rest["items"]] == [loans[0].id]
    assert client.get("/api/v1/loans?status=active", headers=headers).json["total"] == 0


def test_an_unknown_status_is_400(client, api_token, auth) -> None:
    response = client.get("/api/v1/loans?status=happy", headers=auth(api_token("operator")))
    assert response.status_code == 400 and response.json["error"]["field"] == "status"


def test_a_loan_shows_its_schedule_and_no_phone_numbers(client, api_token, auth,
                                                        two_partners) -> None:
    loan = two_partners["our_loan"]
    body = client.get(f"/api/v1/loans/{loan.id}", headers=auth(api_token("operator"))).json
    assert body["reference"] == loan.reference and len(body["installments"]) == 4
    assert "+2547" not in str(body)


def test_a_field_partner_sees_only_its_own_loans(client, api_token, auth, two_partners) -> None:
    headers = auth(api_token("field_partner", two_partners["ours"].id))
    listed = client.get("/api/v1/loans", headers=headers).json
    assert [item["id"] for item in listed["items"]] == [two_partners["our_loan"].id]
    theirs = two_partners["their_loan"].id
    assert client.get(f"/api/v1/loans/{theirs}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/loans/{theirs}/approve", headers=headers).status_code == 404
    assert client.post(f"/api/v1/loans/{theirs}/reject", json={"reason": "no"},
                       headers=headers).status_code == 404


def test_a_field_partner_approves_its_own_application(client, session, api_token, auth,
                                                      two_partners) -> None:
    loan = two_partners["our_loan"]
    headers = auth(api_token("field_partner", two_partners["ours"].id))
    response = client.post(f"/api/v1/loans/{loan.id}/approve", headers=headers)
    assert response.status_code == 200 and response.json["status"] == "fundraising"
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "loan.approve"))
    assert entry.subject_id == str(loan.id) and entry.before == {"status": "pending_review"}
    again = client.post(f"/api/v1/loans/{loan.id}/approve", headers=headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "illegal_transition"


def test_rejecting_needs_a_reason(client, api_token, auth, two_partners) -> None:
    loan = two_partners["our_loan"]
    headers = auth(api_token("operator"))
    missing = client.post(f"/api/v1/loans/{loan.id}/reject", json={}, headers=headers)
    assert missing.status_code == 400 and missing.json["error"]["field"] == "reason"
    extra = client.post(f"/api/v1/loans/{loan.id}/reject",
                        json={"reason": "income too low", "status": "approved"},
                        headers=headers)
    assert extra.status_code == 400 and extra.json["error"]["field"] == "status"
    done = client.post(f"/api/v1/loans/{loan.id}/reject", json={"reason": "income too low"},
                       headers=headers)
    assert done.status_code == 200 and done.json["status"] == "rejected"


def test_an_unknown_loan_is_404(client, api_token, auth) -> None:
    response = client.get("/api/v1/loans/999999", headers=auth(api_token("operator")))
    assert response.status_code == 404


# role x endpoint -> status; "ours"/"theirs" pick the loan of the caller's partner or another's
ROLE_TABLE = [
    ("operator", "GET", "/api/v1/loans", None, 200),
    ("field_partner", "GET", "/api/v1/loans", None, 200),
    ("lender", "GET", "/api/v1/loans", None, 403),
    (None, "GET", "/api/v1/loans", None, 401),
    ("operator", "GET", "/api/v1/loans/{theirs}", None, 200),
    ("field_partner", "GET", "/api/v1/loans/{ours}", None, 200),
    ("field_partner", "GET", "/api/v1/loans/{theirs}", None, 404),
    ("lender", "GET", "/api/v1/loans/{ours}", None, 403),
    (None, "GET", "/api/v1/loans/{ours}", None, 401),
    ("operator", "POST", "/api/v1/loans/{theirs}/approve", None, 200),
    ("field_partner", "POST", "/api/v1/loans/{ours}/approve", None, 200),
    ("field_partner", "POST", "/api/v1/loans/{theirs}/approve", None, 404),
    ("lender", "POST", "/api/v1/loans/{ours}/approve", None, 403),
    (None, "POST", "/api/v1/loans/{ours}/approve", None, 401),
    ("operator", "POST", "/api/v1/loans/{theirs}/reject", {"reason": "no"}, 200),
    ("field_partner", "POST", "/api/v1/loans/{ours}/reject", {"reason": "no"}, 200),
    ("field_partner", "POST", "/api/v1/loans/{theirs}/reject", {"reason": "no"}, 404),
    ("lender", "POST", "/api/v1/loans/{ours}/reject", {"reason": "no"}, 403),
    (None, "POST", "/api/v1/loans/{ours}/reject", {"reason": "no"}, 401),
]


@pytest.mark.parametrize("role, method, path, body, status", ROLE_TABLE)
def test_roles_against_loan_endpoints(client, api_token, auth, two_partners, role, method,
                                      path, body, status) -> None:
    owner = {"operator": None, "field_partner": two_partners["ours"].id, "lender": 1}
    headers = auth(api_token(role, owner[role])) if role else {}
    url = path.format(ours=two_partners["our_loan"].id, theirs=two_partners["their_loan"].id)
    assert client.open(url, method=method, json=body, headers=headers).status_code == status
