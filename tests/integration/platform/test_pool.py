"""The connection pool checks a connection only after it rested; a dead one is replaced."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from core.db import make_engine

pytestmark = pytest.mark.postgres

BACKEND_PID = text("SELECT pg_backend_pid()")


@pytest.fixture
def engines(runtime: Any) -> Iterator[list[Engine]]:
    if runtime.db.dialect != "postgresql":
        pytest.skip("terminating a backend needs PostgreSQL")
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def pooled_engine(runtime: Any, engines: list[Engine], ping_after_idle: float) -> Engine:
    engine = make_engine(runtime.db.url, ping_after_idle=ping_after_idle, pool_size=1,
                         max_overflow=0)
    engines.append(engine)
    return engine


def pid_of_pooled_connection(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(BACKEND_PID).scalar_one())


def terminate(runtime: Any, pid: int) -> None:
    with runtime.db.engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.commit()


def count_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    real_ping = engine.dialect.do_ping

    def ping(dbapi_connection: Any) -> bool:
        pings.append(1)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", ping)
    return pings


def test_a_rested_connection_that_died_is_replaced_at_checkout(runtime, engines) -> None:
    engine = pooled_engine(runtime, engines, ping_after_idle=0.0)
    dead = pid_of_pooled_connection(engine)
    terminate(runtime, dead)  # as a server restart or an idle timeout would

    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
        assert connection.execute(BACKEND_PID).scalar_one() != dead


def test_a_connection_back_from_a_request_a_moment_ago_is_not_pinged(
    runtime, engines, monkeypatch
) -> None:
    engine = pooled_engine(runtime, engines, ping_after_idle=3600.0)
    pings = count_pings(engine, monkeypatch)
    first = pid_of_pooled_connection(engine)
    assert pid_of_pooled_connection(engine) == first  # the same connection, reused
    assert pings == []


def test_a_connection_that_rested_is_pinged_once_per_checkout(
    runtime, engines, monkeypatch
) -> None:
    engine = pooled_engine(runtime, engines, ping_after_idle=0.0)
    pings = count_pings(engine, monkeypatch)
    pid_of_pooled_connection(engine)  # a new connection needs no ping
    pid_of_pooled_connection(engine)
    assert pings == [1]
