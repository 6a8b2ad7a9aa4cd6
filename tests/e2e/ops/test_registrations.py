"""Registrations are verified or refused in the console and the API, audited, with an SMS."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from gateway.api_keys import create_api_key
from gateway.ops_models import AuditEntry
from lending import members
from messaging.models import SmsMessage

_n = itertools.count(1)


def registered(session, language: str = "sw"):
    """A new member waiting for verification (as after registering on USSD)."""
    n = next(_n)
    member = members.register_member(
        session, phone=f"+25472{n:07d}", first_name=f"Faraji{n}", national_id=f"REG{n}",
        pin="4821", language=language, consent=True)
    session.commit()
    return member


def sms_to(session, member) -> list[SmsMessage]:
    return list(session.scalars(select(SmsMessage).where(SmsMessage.to_phone == member.phone)
                                .order_by(SmsMessage.id)))


def test_an_approver_verifies_a_registration_in_the_console(signed_in, apps, session) -> None:
    partner = apps.partner()
    member = registered(session)
    client = signed_in("approver")
    waiting = client.get("/ops/members").text
    assert member.first_name in waiting
    page = client.get(f"/ops/members/{member.id}").text
    assert "Verify" in page and partner.name in page and 'id="pin"' in page
    client.post(f"/ops/members/{member.id}/verify", data={"field_partner_id": partner.id})
    session.refresh(member)
    assert (member.status, member.field_partner_id) == ("active", partner.id)
    [sms] = [m for m in sms_to(session, member) if m.template == "registration_verified"]
    assert sms.language == "sw" and "umethibitishwa" in sms.body
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "member.verify"))
    assert entry.subject_id == str(member.id) and entry.after["status"] == "active"
    assert f"[operator:{client.operator.id}]" in entry.actor


def test_refusing_needs_a_reason_which_the_audit_keeps(signed_in, session) -> None:
    member = registered(session, language="en")
    client = signed_in("approver")
    client.post(f"/ops/members/{member.id}/reject", data={"reason": ""})
    session.refresh(member)
    assert member.status == "pending_verification"
    client.post(f"/ops/members/{member.id}/reject", data={"reason": "ID photo unreadable"})
    session.refresh(member)
    assert member.status == "rejected"
    [sms] = [m for m in sms_to(session, member) if m.template == "registration_rejected"]
    assert sms.language == "en" and "could not confirm" in sms.body
    assert "ID photo" not in sms.body  # the operator's words stay in the audit log
    trail = client.get(f"/ops/members/{member.id}").text
    assert "member.reject" in trail and "ID photo unreadable" in trail


def test_a_partner_operator_vouches_as_their_own_partner(signed_in, apps, session) -> None:
    mine, other = apps.partner(), apps.partner()
    member = registered(session)
    client = signed_in("approver", field_partner_id=mine.id)
    client.post(f"/ops/members/{member.id}/verify", data={"field_partner_id": other.id})
    session.refresh(member)
    assert member.field_partner_id == mine.id
    someone_elses = registered(session)
    members.verify_member(session, someone_elses.id, other.id, "officer")
    session.commit()
    assert client.get(f"/ops/members/{someone_elses.id}").status_code == 404


def test_a_viewer_cannot_decide_registrations(signed_in, session) -> None:
    member = registered(session)
    client = signed_in("viewer")
    assert client.get("/ops/members").status_code == 403
    assert client.post(f"/ops/members/{member.id}/verify").status_code == 403


def test_a_partner_key_verifies_and_an_operator_key_names_the_partner(
        app, apps, session, operator) -> None:
    partner = apps.partner()
    first, second = registered(session), registered(session)
    _, partner_key = create_api_key(session, role="field_partner", owner_id=partner.id)
    _, approver_key = create_api_key(session, role="operator",
                                     owner_id=operator("approver").id)
    _, clerk_key = create_api_key(session, role="operator", owner_id=operator("reconciler").id)
    session.commit()
    api = app.test_client()

    def post(path, token, body):
        return api.post(path, json=body, headers={"Authorization": f"Bearer {token}"})

    listed = api.get("/api/v1/members", headers={"Authorization": f"Bearer {partner_key}"})
    assert {first.id, second.id} <= {m["id"] for m in listed.json["items"]}
    assert post(f"/api/v1/members/{first.id}/verify", partner_key, {}).json["status"] == "active"
    assert post(f"/api/v1/members/{second.id}/verify", approver_key, {}).status_code == 400
    assert post(f"/api/v1/members/{second.id}/verify", clerk_key,
                {"field_partner_id": partner.id}).status_code == 403
    refused = post(f"/api/v1/members/{second.id}/reject", approver_key,
                   {"reason": "duplicate of another member"})
    assert refused.status_code == 200 and refused.json["status"] == "rejected"
    assert post(f"/api/v1/members/{second.id}/reject", approver_key,
                {"reason": "again"}).status_code == 409
    assert post("/api/v1/members/987654/verify", partner_key, {}).status_code == 404


def test_the_openapi_document_lists_the_decisions(client) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/members", "/members/{member_id}/verify", "/members/{member_id}/reject",
            "/payouts/held", "/payouts/{intent_id}/approve",
            "/payouts/{intent_id}/decline"} <= set(paths)
