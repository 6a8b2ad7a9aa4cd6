"""Members: registration rules, verification, PIN checks and lockout, preferences."""

from datetime import timedelta

import pytest

from lending import members
from lending.errors import LendingError
from lending.models import LimitChange
from lending.protection import START_LIMIT


def register(session, **overrides):
    values = {"phone": "0712 345 678", "first_name": "Wanjiru", "national_id": "12345678",
              "pin": "4821", "language": "sw", "consent": True, **overrides}
    return members.register_member(session, **values)


def test_a_new_member_waits_for_verification_with_the_starting_limit(lending) -> None:
    member = register(lending.session)
    assert member.phone == "+254712345678"
    assert member.status == "pending_verification"
    assert member.credit_limit == START_LIMIT == 200_000
    assert member.pin_hash.startswith("hmac-sha256$") and "4821" not in member.pin_hash
    change = lending.session.query(LimitChange).filter_by(member_id=member.id).one()
    assert (change.old, change.new, change.reason) == (0, 200_000, "initial")


@pytest.mark.parametrize(("overrides", "code"), [
    ({"consent": False}, "consent_required"),
    ({"phone": "12"}, "invalid_phone"),
    ({"language": "fr"}, "invalid_language"),
    ({"gender": "q"}, "invalid_gender"),
    ({"first_name": "  "}, "invalid_first_name"),
    ({"pin": "12a4"}, "invalid_pin"),
    ({"pin": "123"}, "invalid_pin"),
    ({"pin": "7777"}, "weak_pin"),
    ({"pin": "1234"}, "weak_pin"),
    ({"pin": "9876"}, "weak_pin"),
    ({"pin": "0123"}, "weak_pin"),
])
def test_registration_refuses_bad_input_with_a_stable_code(lending, overrides, code) -> None:
    with pytest.raises(LendingError) as excinfo:
        register(lending.session, **overrides)
    assert excinfo.value.code == code


def test_the_same_phone_or_id_cannot_register_twice(lending) -> None:
    register(lending.session)
    with pytest.raises(LendingError) as same_phone:
        register(lending.session, phone="+254712345678", national_id="999")
    with pytest.raises(LendingError) as same_id:
        register(lending.session, phone="0712 000 111")
    assert (same_phone.value.code, same_id.value.code) == ("already_registered", "id_in_use")


def test_a_field_partner_verifies_a_member(lending) -> None:
    member = register(lending.session, national_id=None)
    partner = lending.partner()
    members.verify_member(lending.session, member.id, partner.id, "officer-7")
    assert (member.status, member.field_partner_id, member.verified_by) == (
        "active", partner.id, "officer-7")
    assert members.find_member_by_phone(lending.session, "254712345678") is member
    assert members.find_member_by_phone(lending.session, "not a phone") is None


def test_three_wrong_pins_lock_for_thirty_minutes_and_a_right_one_resets(lending, clock) -> None:
    member = register(lending.session)
    first = members.check_pin(lending.session, member.id, "0000")
    assert (first.ok, first.tries_left) == (False, 2)
    assert members.check_pin(lending.session, member.id, "4821").ok
    assert member.failed_pin_attempts == 0
    for _ in range(2):
        members.check_pin(lending.session, member.id, "1111")
    locked = members.check_pin(lending.session, member.id, "2222")
    assert (locked.ok, locked.tries_left) == (False, 0)
    assert locked.locked_until == clock.now() + timedelta(minutes=30)
    # while locked, even the right PIN is refused
    assert not members.check_pin(lending.session, member.id, "4821").ok
    clock.advance(minutes=31)
    assert members.check_pin(lending.session, member.id, "4821").ok
    assert (member.failed_pin_attempts, member.pin_locked_until) == (0, None)


def test_the_lock_survives_a_new_session(lending, runtime) -> None:
    member = register(lending.session)
    for _ in range(3):
        members.check_pin(lending.session, member.id, "0000")
    lending.session.flush()
    with runtime.db.session() as other:
        assert members.check_pin(other, member.id, "4821").locked_until is not None


def test_changing_the_pin_needs_the_old_one(lending) -> None:
    member = register(lending.session)
    with pytest.raises(LendingError, match="weak_pin"):
        members.change_pin(lending.session, member.id, "4821", "5555")
    assert not members.change_pin(lending.session, member.id, "0000", "7391").ok
    assert members.change_pin(lending.session, member.id, "4821", "7391").ok
    assert members.check_pin(lending.session, member.id, "7391").ok
    assert not members.check_pin(lending.session, member.id, "4821").ok


def test_preferences_lender_role_and_tickets(lending) -> None:
    member = register(lending.session)
    members.set_language(lending.session, member.id, "en")
    members.set_reminders(lending.session, member.id, False)
    members.become_lender(lending.session, member.id)
    ticket = members.open_ticket(lending.session, member.id, "hardship", "Harvest failed")
    assert (member.language, member.reminders_enabled, member.is_lender) == ("en", False, True)
    assert (ticket.kind, ticket.status) == ("hardship", "open")
    with pytest.raises(LendingError, match="invalid_kind"):
        members.open_ticket(lending.session, member.id, "praise", "thanks")
    with pytest.raises(LendingError, match="unknown_member"):
        members.set_language(lending.session, 10**9, "en")
