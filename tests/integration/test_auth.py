"""API keys and operator logins."""

import pytest

from core.clock import utcnow
from gateway.auth import AuthError, authenticate_token, check_login, create_api_key, create_operator


def test_an_api_key_authenticates_with_its_role_and_owner(session) -> None:
    key, token = create_api_key(session, role="lender", owner_id=42, name="app")
    caller = authenticate_token(session, token)
    assert (caller.key_id, caller.role, caller.owner_id) == (key.id, "lender", 42)
    assert token not in key.secret_hash


@pytest.mark.parametrize("token", ["", "mk_", "mk_abc", "nope.nope", "mk_000000000000.wrong"])
def test_bad_tokens_are_refused(session, token: str) -> None:
    create_api_key(session, role="operator")
    with pytest.raises(AuthError):
        authenticate_token(session, token)


def test_a_revoked_key_is_refused(session) -> None:
    key, token = create_api_key(session, role="operator")
    key.revoked_at = utcnow()
    with pytest.raises(AuthError):
        authenticate_token(session, token)


def test_partner_and_lender_keys_need_an_owner(session) -> None:
    with pytest.raises(ValueError):
        create_api_key(session, role="lender")
    with pytest.raises(ValueError):
        create_api_key(session, role="root")


def test_operator_login_locks_after_five_failures(session, clock) -> None:
    create_operator(session, email="Ops@Mkopo.test", password="correct horse battery",
                    role="admin")
    assert check_login(session, "ops@mkopo.test", "correct horse battery").role == "admin"
    for _ in range(5):
        with pytest.raises(AuthError, match="wrong"):
            check_login(session, "ops@mkopo.test", "guess")
    with pytest.raises(AuthError, match="too many"):
        check_login(session, "ops@mkopo.test", "correct horse battery")
    clock.advance(minutes=16)
    assert check_login(session, "ops@mkopo.test", "correct horse battery").failed_logins == 0


def test_create_api_key_command_prints_a_working_key(runner, session) -> None:
    result = runner.invoke(args=["create-api-key", "--role", "operator"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert authenticate_token(session, token).role == "operator"


def test_create_operator_command_refuses_short_passwords(runner) -> None:
    result = runner.invoke(args=["create-operator", "--email", "a@b.c", "--password", "short"])
    assert result.exit_code != 0
    assert "10 characters" in result.output
