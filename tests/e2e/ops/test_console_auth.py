"""Console sign-in: hashed passwords, lockout, sessions, CSRF scoped to the console."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from gateway.ops_models import AuditEntry

from support.ops_world import PASSWORD


def test_pages_need_a_login(client) -> None:
    response = client.get("/ops/reconciliation")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/ops/login?next=/ops/reconciliation")


def test_signing_in_and_out(client, operator, session) -> None:
    who = operator("viewer")
    response = client.post("/ops/login", data={"email": who.email.upper(), "password": PASSWORD,
                                               "next": "/ops/loans"})
    assert response.status_code == 302 and response.headers["Location"] == "/ops/loans"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/ops/").status_code == 200
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "ops.login"))
    assert who.email in entry.actor
    client.post("/ops/logout")
    assert client.get("/ops/").status_code == 302


def test_a_wrong_password_is_refused_without_saying_which_part(client, operator) -> None:
    who = operator("viewer")
    wrong = client.post("/ops/login", data={"email": who.email, "password": "nope nope nope"})
    nobody = client.post("/ops/login", data={"email": "ghost@mkopo.test", "password": "x" * 12})
    assert wrong.status_code == nobody.status_code == 401
    assert "wrong email or password" in wrong.text and "wrong email or password" in nobody.text


def test_five_failures_lock_the_account(client, operator, session) -> None:
    who = operator("admin")
    for _ in range(5):
        client.post("/ops/login", data={"email": who.email, "password": "wrong password!"})
    locked = client.post("/ops/login", data={"email": who.email, "password": PASSWORD})
    assert locked.status_code == 401 and "too many failed attempts" in locked.text
    session.refresh(who)
    assert who.locked_until is not None


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/ops/",
                                    "/api/v1/products"])
def test_after_login_only_console_pages_are_followed(client, operator, target) -> None:
    who = operator("viewer")
    response = client.post("/ops/login", data={"email": who.email, "password": PASSWORD,
                                               "next": target})
    assert response.headers["Location"] == "/ops/"


def test_an_idle_session_expires(client, operator, clock) -> None:
    who = operator("viewer")
    client.post("/ops/login", data={"email": who.email, "password": PASSWORD})
    assert client.get("/ops/").status_code == 200
    clock.advance(minutes=31)
    assert client.get("/ops/").status_code == 302


def test_a_deactivated_operator_is_signed_out(client, operator, session) -> None:
    who = operator("viewer")
    client.post("/ops/login", data={"email": who.email, "password": PASSWORD})
    who.active = False
    session.commit()
    assert client.get("/ops/").status_code == 302


def test_console_pages_carry_security_headers(signed_in) -> None:
    response = signed_in("viewer").get("/ops/")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


# --- CSRF, with protection switched on as in production ---------------------------------


@pytest.fixture
def csrf_app(runtime, db_connection):
    from gateway import create_app

    return create_app({"RUNTIME": runtime, "MKOPO_ENV": "test",
                       "instance_path": runtime.settings.instance_path,
                       "callback_token": runtime.settings.callback_token,
                       "secret_key": runtime.settings.secret_key,
                       "pin_pepper": runtime.settings.pin_pepper})


def token_from(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_the_console_refuses_a_form_without_its_csrf_token(csrf_app, operator) -> None:
    who = operator("viewer")
    client = csrf_app.test_client()
    refused = client.post("/ops/login", data={"email": who.email, "password": PASSWORD})
    assert refused.status_code == 400
    token = token_from(client.get("/ops/login").text)
    accepted = client.post("/ops/login", data={"email": who.email, "password": PASSWORD,
                                               "csrf_token": token})
    assert accepted.status_code == 302
    assert client.post("/ops/logout").status_code == 400  # a forged sign-out is refused too


def test_the_api_and_callbacks_stay_free_of_csrf(csrf_app, session) -> None:
    from gateway.api_keys import create_api_key
    from gateway.operators import create_operator

    person = create_operator(session, email="csrf-free@mkopo.test", password=PASSWORD,
                             role="admin")
    _, token = create_api_key(session, role="operator", owner_id=person.id)
    session.commit()
    client = csrf_app.test_client()
    response = client.post("/api/v1/products", json={"code": "X"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400 and response.json["error"]["field"] != "csrf_token"
    assert "CSRF" not in response.text
    callback = client.post("/sms/opt-out", data={"senderId": "MKOPO",
                                                 "phoneNumber": "+254712345678"})
    assert "CSRF" not in callback.text and callback.status_code < 500
