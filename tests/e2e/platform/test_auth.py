"""API keys and operator logins."""

import pytest

from core.clock import utcnow
from gateway.api_keys import KeyRefused, authenticate_token, caller_actor, create_api_key
from gateway.operators import LoginRefused, check_login, create_operator
from gateway.ops_models import Operator


def test_an_api_key_authenticates_with_its_role_and_owner(session) -> None:
    key, token = create_api_key(session, role="lender", owner_id=42, name="app")
    caller = authenticate_token(session, token)
    assert (caller.key_id, caller.role, caller.owner_id) == (key.id, "lender", 42)
    assert token not in key.secret_hash


def operator(session, role: str = "admin", email: str = "ops@mkopo.test") -> Operator:
    return create_operator(session, email=email, password="correct horse battery", role=role)


@pytest.mark.parametrize("token", ["", "mk_", "mk_abc", "nope.nope", "mk_000000000000.wrong"])
def test_bad_tokens_are_refused(session, token: str) -> None:
    create_api_key(session, role="operator", owner_id=operator(session).id)
    with pytest.raises(KeyRefused):
        authenticate_token(session, token)


def test_a_revoked_key_is_refused(session) -> None:
    key, token = create_api_key(session, role="operator", owner_id=operator(session).id)
    key.revoked_at = utcnow()
    with pytest.raises(KeyRefused):
        authenticate_token(session, token)


def test_partner_and_lender_keys_need_an_owner(session) -> None:
    with pytest.raises(ValueError):
        create_api_key(session, role="lender")
    with pytest.raises(ValueError):
        create_api_key(session, role="root")


def test_an_operator_key_belongs_to_a_named_operator(session) -> None:
    with pytest.raises(ValueError, match="the operator it acts for"):
        create_api_key(session, role="operator")
    with pytest.raises(ValueError, match="no active operator"):
        create_api_key(session, role="operator", owner_id=999_999)
    person = operator(session)
    _, token = create_api_key(session, role="operator", owner_id=person.id)
    caller = authenticate_token(session, token)
    assert caller.operator_id == person.id
    assert caller_actor(session, caller).key == f"operator:{person.id}"


def test_two_keys_of_one_operator_are_one_person(session) -> None:
    person = operator(session)
    first = authenticate_token(session, create_api_key(session, role="operator",
                                                       owner_id=person.id)[1])
    second = authenticate_token(session, create_api_key(session, role="operator",
                                                        owner_id=person.id)[1])
    assert first.key_id != second.key_id
    assert caller_actor(session, first) == caller_actor(session, second)


def test_operator_login_locks_after_five_failures(session, clock) -> None:
    create_operator(session, email="Ops@Mkopo.test", password="correct horse battery",
                    role="admin")
    assert check_login(session, "ops@mkopo.test", "correct horse battery").role == "admin"
    for _ in range(5):
        with pytest.raises(LoginRefused, match="wrong"):
            check_login(session, "ops@mkopo.test", "guess")
    with pytest.raises(LoginRefused, match="too many"):
        check_login(session, "ops@mkopo.test", "correct horse battery")
    clock.advance(minutes=16)
    assert check_login(session, "ops@mkopo.test", "correct horse battery").failed_logins == 0


def test_create_api_key_command_prints_a_working_key(runner, session) -> None:
    person = operator(session, email="keyholder@mkopo.test")
    session.commit()
    result = runner.invoke(args=["create-api-key", "--role", "operator",
                                 "--operator", "KeyHolder@mkopo.test"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    caller = authenticate_token(session, token)
    assert (caller.role, caller.operator_id) == ("operator", person.id)


def test_create_api_key_command_wants_the_operator(runner) -> None:
    result = runner.invoke(args=["create-api-key", "--role", "operator"])
    assert result.exit_code != 0 and "--operator EMAIL" in result.output
    result = runner.invoke(args=["create-api-key", "--role", "operator",
                                 "--operator", "nobody@mkopo.test"])
    assert result.exit_code != 0 and "no operator nobody@mkopo.test" in result.output


def test_create_operator_command_refuses_short_passwords(runner) -> None:
    result = runner.invoke(args=["create-operator", "--email", "a@b.c", "--password", "short"])
    assert result.exit_code != 0
    assert "10 characters" in result.output
