"""A database that drops away mid-request: the phone still gets a screen, the log a JSON line.

The real domain runs behind /ussd on the real engine (no shared test connection),
so the request's session holds its own pooled connection, which the tests
terminate (PostgreSQL) or make fail on commit and on close (any database).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway import create_app
from gateway.logs import json_formatter

PHONE = "+254722000987"


@pytest.fixture
def real_app(runtime: Any, committed_db: Any, redis: Any) -> Any:
    """The app on the real engine: each request has a connection of its own."""
    return create_app({"RUNTIME": runtime, "MKOPO_ENV": "test",
                       "instance_path": runtime.settings.instance_path,
                       "callback_token": runtime.settings.callback_token,
                       "secret_key": runtime.settings.secret_key,
                       "pin_pepper": runtime.settings.pin_pepper})


def dial(client: Any, text_: str = "") -> Any:
    return client.post("/ussd", data={
        "sessionId": f"ATUid_{uuid.uuid4().hex[:12]}", "serviceCode": "*384*123#",
        "phoneNumber": PHONE, "networkCode": "63902", "text": text_})


def assert_a_screen(response: Any) -> str:
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/plain"
    body = response.get_data(as_text=True)
    assert body.startswith(("CON ", "END ")), body
    return body


def json_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[dict[str, Any]]:
    """The records at `level` or above, as the JSON lines the production handler writes."""
    formatter = json_formatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.levelno >= level]


@pytest.fixture
def kill_after_the_view(runtime: Any, real_app: Any) -> Iterator[list[int]]:
    """Terminate the request's database connection once the view has answered."""
    killed: list[int] = []

    @real_app.after_request
    def terminate(response: Any) -> Any:
        from flask import g

        session: Session | None = g.get("db_session")
        if session is not None:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            with runtime.db.engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killed.append(int(pid or 0))
        return response

    yield killed


@pytest.mark.postgres
def test_a_connection_killed_before_teardown_still_gives_the_screen_and_a_json_line(
    real_app, kill_after_the_view, caplog
) -> None:
    if real_app.extensions["mkopo"].db.dialect != "postgresql":
        pytest.skip("terminating a backend needs PostgreSQL")
    with caplog.at_level(logging.WARNING):
        body = assert_a_screen(dial(real_app.test_client()))
    assert kill_after_the_view, "the request opened no database session to kill"
    assert body.startswith("CON ")  # the answer was ready before the connection died
    lines = json_lines(caplog, logging.WARNING)
    assert any(line["logger"] == "gateway.database" for line in lines), lines
    # the pool must not hand the dead connection to the next request
    assert_a_screen(dial(real_app.test_client()))


class FailingSession(Session):
    """A session whose database is gone: flushes, commits and closes all fail."""

    def _gone(self, *_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    commit = _gone  # type: ignore[assignment]
    close = _gone  # type: ignore[assignment]


def test_a_failing_commit_and_close_give_an_end_screen_and_a_json_line(
    real_app, runtime, caplog, monkeypatch
) -> None:
    monkeypatch.setattr(runtime.db.sessions, "class_", FailingSession)
    client = real_app.test_client()
    with caplog.at_level(logging.WARNING):
        # registration commits a new member: the commit fails, then teardown's close
        body = assert_a_screen(dial(client, "1*Amina Njeri*12345678*1357*1357*1*1"))
    assert body.startswith("END ")
    loggers = {line["logger"] for line in json_lines(caplog, logging.WARNING)}
    assert "gateway.database" in loggers


def test_an_error_outside_the_engine_still_gives_an_end_screen(real_app, caplog) -> None:
    @real_app.before_request
    def broken_hook() -> None:
        raise RuntimeError("a hook failed")

    with caplog.at_level(logging.ERROR):
        body = assert_a_screen(dial(real_app.test_client()))
    assert body.startswith("END ")
    assert any(line["logger"] == "gateway.ussd" for line in json_lines(caplog, logging.ERROR))
