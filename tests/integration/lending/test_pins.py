"""PIN verifiers: keyed HMAC-SHA-256 with a salt each, argon2id upgraded, keys rotated."""

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending import members, pins


def register(lending, pin="4821"):
    return lending.member(verified=True, pin=pin)


def test_a_verifier_is_the_keyed_mac_of_salt_and_pin_under_the_current_key(runtime) -> None:
    stored = pins.hash_pin("4821")
    scheme, key_id, salt, mac = stored.split("$")
    assert (scheme, key_id) == ("hmac-sha256", runtime.settings.pin_key_id)
    raw_salt = base64.b64decode(salt + "=" * (-len(salt) % 4))
    expected = hmac.new(runtime.settings.pin_key.encode(), raw_salt + b"4821",
                        hashlib.sha256).digest()
    assert base64.b64decode(mac + "=" * (-len(mac) % 4)) == expected
    assert len(raw_salt) == 16


def test_the_same_pin_gets_a_different_verifier_each_time(runtime) -> None:
    first, second = pins.hash_pin("4821"), pins.hash_pin("4821")
    assert first != second
    assert pins.pin_matches(first, "4821") and pins.pin_matches(second, "4821")


@settings(max_examples=60, deadline=None)
@given(pin=st.text(alphabet="0123456789", min_size=4, max_size=4),
       other=st.text(alphabet="0123456789", min_size=4, max_size=4))
def test_only_the_pin_itself_matches(runtime, pin, other) -> None:
    stored = pins.hash_pin(pin)
    assert pins.pin_matches(stored, pin)
    assert pins.pin_matches(stored, other) == (other == pin)


def test_without_the_key_the_verifier_tests_no_pin(runtime, pin_keying) -> None:
    """What a database dump gives: a verifier that no key but PIN_KEY opens."""
    stored = pins.hash_pin("4821")
    pin_keying.rotate("2", "an attacker's guess at the key, 32 bytes+")
    pin_keying.forget("1")
    assert not any(pins.pin_matches(stored, f"{n:04d}") for n in range(10_000))


@pytest.mark.parametrize("stored", [
    "", "plain", "hmac-sha256$1$", "hmac-sha256$1$!!$??", "hmac-sha256$$AAAA$AAAA",
    "$argon2id$v=19$garbage", "md5$1$AAAA$AAAA",
])
def test_a_malformed_verifier_never_matches_and_never_raises(runtime, stored) -> None:
    assert not pins.pin_matches(stored, "4821")


def test_an_argon2id_verifier_still_verifies_and_is_upgraded_by_the_next_right_pin(
        lending, pin_keying) -> None:
    member = register(lending)
    member.pin_hash = legacy = pin_keying.legacy_hash("4821")
    assert pins.needs_upgrade(legacy)

    assert not members.check_pin(lending.session, member.id, "0000").ok
    assert member.pin_hash == legacy  # a wrong PIN changes nothing
    assert members.check_pin(lending.session, member.id, "4821").ok
    assert member.pin_hash.startswith("hmac-sha256$1$")
    assert not pins.needs_upgrade(member.pin_hash)
    assert members.check_pin(lending.session, member.id, "4821").ok
    assert not members.check_pin(lending.session, member.id, "4822").ok


def test_a_verifier_under_a_retired_key_verifies_and_is_rekeyed_by_the_next_right_pin(
        lending, pin_keying) -> None:
    member = register(lending)
    under_old = member.pin_hash
    pin_keying.rotate("2026b", "the next PIN key, at least 32 bytes long")
    assert pins.key_id_of(under_old) == "1" and pins.needs_upgrade(under_old)

    assert not members.check_pin(lending.session, member.id, "0000").ok
    assert member.pin_hash == under_old
    assert members.check_pin(lending.session, member.id, "4821").ok
    assert pins.key_id_of(member.pin_hash) == "2026b"
    pin_keying.forget("1")  # once re-keyed, the old key is no longer needed
    assert members.check_pin(lending.session, member.id, "4821").ok


def test_a_verifier_naming_a_key_the_process_lacks_is_refused_and_logged(
        runtime, pin_keying, caplog) -> None:
    stored = pins.hash_pin("4821")
    pin_keying.rotate("2", "the next PIN key, at least 32 bytes long")
    pin_keying.forget("1")
    assert not pins.pin_matches(stored, "4821")
    assert "key id '1'" in caplog.text and "4821" not in caplog.text


def test_an_argon2id_verifier_without_a_pepper_is_refused(runtime, pin_keying, monkeypatch):
    legacy = pin_keying.legacy_hash("4821")
    monkeypatch.setattr(runtime, "settings", runtime.settings.replace(pin_pepper=""))
    assert not pins.pin_matches(legacy, "4821")
