"""PIN-locked members are unlocked in the console or the API, audited, with an SMS."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from gateway.api_keys import create_api_key
from gateway.ops_models import AuditEntry
from lending import members
from messaging.models import SmsMessage

_n = itertools.count(1)


def locked_member(session, partner, *, times: int = 1, clock=None):
    """A verified member whose PIN was locked `times` times in a row."""
    n = next(_n)
    member = members.register_member(
        session, phone=f"+25473{n:07d}", first_name=f"Zawadi{n}", national_id=f"PIN{n}",
        pin="4821", language="en", consent=True)
    members.verify_member(session, member.id, partner.id, "officer")
    for lock in range(times):
        if lock and clock is not None:
            clock.advance(hours=25)
        for _ in range(3):
            members.check_pin(session, member.id, "0000")
    session.commit()
    return member


def test_an_approver_unlocks_a_pin_from_the_list_of_locked_members(
        signed_in, apps, session, clock) -> None:
    partner = apps.partner()
    member = locked_member(session, partner, times=3, clock=clock)
    free = locked_member(session, partner, times=0)
    client = signed_in("approver")
    page = client.get("/ops/pin-locks").text
    assert member.first_name in page and free.first_name not in page
    assert "someone unlocks it" in page and f"/ops/members/{member.id}/pin-unlock" in page

    refused = client.post(f"/ops/members/{member.id}/pin-unlock",
                          data={"reason": "", "back": "list"})
    assert refused.status_code == 302
    session.refresh(member)
    assert members.needs_unlock(member)

    client.post(f"/ops/members/{member.id}/pin-unlock",
                data={"reason": "called her on the registered number", "back": "list"})
    session.refresh(member)
    assert (member.pin_locked_until, member.pin_lock_level, member.failed_pin_attempts) == (
        None, 0, 0)
    listed = client.get("/ops/pin-locks").text
    assert "unlocked; an SMS tells them" in listed
    assert f"/ops/members/{member.id}/pin-unlock" not in listed
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "member.pin_unlock"))
    assert entry.subject_id == str(member.id) and entry.before["pin_lock_level"] == 3
    assert entry.reason == "called her on the registered number"
    assert f"[operator:{client.operator.id}]" in entry.actor
    sms = session.scalars(select(SmsMessage).where(SmsMessage.to_phone == member.phone)
                          .order_by(SmsMessage.id.desc())).first()
    assert sms.template == "pin_unlocked"
    assert members.check_pin(session, member.id, "4821").ok


def test_the_member_page_offers_the_unlock_only_while_locked(signed_in, apps, session) -> None:
    partner = apps.partner()
    member = locked_member(session, partner)
    client = signed_in("approver")
    assert "Unlock PIN" in client.get(f"/ops/members/{member.id}").text
    client.post(f"/ops/members/{member.id}/pin-unlock", data={"reason": "met at the office"})
    page = client.get(f"/ops/members/{member.id}").text
    assert "Unlock PIN" not in page and "PIN not locked" in page and "member.pin_unlock" in page


def test_unlocking_needs_an_approver_and_the_console_form_a_csrf_token(
        signed_in, apps, session, app) -> None:
    member = locked_member(session, apps.partner())
    assert signed_in("viewer").post(f"/ops/members/{member.id}/pin-unlock",
                                    data={"reason": "met her"}).status_code == 403
    client = signed_in("approver")
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(f"/ops/members/{member.id}/pin-unlock",
                       data={"reason": "met her"}).status_code == 400
    session.refresh(member)
    assert members.is_pin_locked(member)


def test_a_partner_operator_unlocks_only_their_own_members(signed_in, apps, session) -> None:
    mine, other = apps.partner(), apps.partner()
    ours, theirs = locked_member(session, mine), locked_member(session, other)
    client = signed_in("approver", field_partner_id=mine.id)
    page = client.get("/ops/pin-locks").text
    assert ours.first_name in page and theirs.first_name not in page
    assert client.post(f"/ops/members/{theirs.id}/pin-unlock",
                       data={"reason": "met her"}).status_code == 404


def test_the_api_unlocks_for_a_partner_key_or_an_approver_key(
        app, apps, session, operator) -> None:
    partner = apps.partner()
    member, other = locked_member(session, partner), locked_member(session, partner)
    _, partner_key = create_api_key(session, role="field_partner", owner_id=partner.id)
    _, approver_key = create_api_key(session, role="operator",
                                     owner_id=operator("approver").id)
    _, clerk_key = create_api_key(session, role="operator", owner_id=operator("reconciler").id)
    session.commit()
    api = app.test_client()

    def unlock(member_id, token, body):
        return api.post(f"/api/v1/members/{member_id}/pin-unlock", json=body,
                        headers={"Authorization": f"Bearer {token}"})

    assert unlock(member.id, partner_key, {}).status_code == 400
    assert unlock(member.id, clerk_key, {"reason": "met her"}).status_code == 403
    done = unlock(member.id, partner_key, {"reason": "met her at the market"})
    assert done.status_code == 200 and done.json["id"] == member.id
    assert unlock(member.id, partner_key, {"reason": "again"}).json["error"]["code"] == (
        "pin_not_locked")
    assert unlock(member.id, partner_key, {"reason": "again"}).status_code == 409
    assert unlock(other.id, approver_key, {"reason": "called him"}).status_code == 200
    assert unlock(987654, approver_key, {"reason": "called"}).status_code == 404
    assert unlock(member.id, approver_key, {"reason": "x", "pin": "1"}).status_code == 400
    actions = session.scalars(select(AuditEntry.action).where(
        AuditEntry.action == "member.pin_unlock")).all()
    assert len(actions) == 2


def test_the_openapi_document_lists_the_pin_unlock(client) -> None:
    operation = client.get("/api/v1/openapi.json").json["paths"][
        "/members/{member_id}/pin-unlock"]["post"]
    assert {"200", "400", "403", "404", "409"} <= set(operation["responses"])
