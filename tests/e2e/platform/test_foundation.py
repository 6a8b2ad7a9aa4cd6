"""The app factory, health endpoints, the outbox and the burst worker, end to end."""

from sqlalchemy import select

from core import outbox
from core.outbox import OutboxItem, TransientError


def test_healthz_and_readyz_answer(client) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": True, "redis": True}


def test_metrics_are_prometheus_text(client) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"mkopo_http_request_seconds_bucket" in response.data


def test_unknown_paths_never_leak_a_stack_trace(client) -> None:
    assert client.get("/no/such/page").status_code == 404
    api = client.get("/api/v1/nothing-here")
    assert api.status_code == 404
    assert api.json["error"]["code"] == "not_found"


def test_outbox_item_is_dispatched_once_after_commit(session, worker) -> None:
    calls: list[int] = []
    outbox.HANDLERS["test.echo"] = lambda s, item: calls.append(item.payload["n"])
    try:
        outbox.add(session, "test.echo", "echo-1", {"n": 7})
        outbox.add(session, "test.echo", "echo-1", {"n": 7})  # same key: recorded once
        session.commit()
        assert worker.run() == 1
        item = session.scalar(select(OutboxItem).where(OutboxItem.key == "echo-1"))
        assert item is not None and item.status == outbox.DONE
        assert outbox.dispatch(item.id) == "skipped"
    finally:
        del outbox.HANDLERS["test.echo"]
    assert calls == [7]


def test_transient_failure_is_retried_by_the_sweeper(session, worker, clock) -> None:
    attempts: list[int] = []

    def flaky(s, item) -> None:
        attempts.append(item.attempts)
        if len(attempts) == 1:
            raise TransientError("provider timed out")

    outbox.HANDLERS["test.flaky"] = flaky
    try:
        item = outbox.add(session, "test.flaky", "flaky-1", {})
        session.commit()
        worker.run()
        session.refresh(item)
        assert (item.status, item.attempts, item.last_error) == (
            outbox.PENDING, 1, "provider timed out")
        clock.advance(minutes=5)
        assert outbox.sweep() == 1
        worker.run()
        session.refresh(item)
        assert (item.status, item.attempts) == (outbox.DONE, 2)
    finally:
        del outbox.HANDLERS["test.flaky"]


def test_rolled_back_items_are_never_dispatched(session, worker) -> None:
    outbox.add(session, "test.never", "never-1", {})
    session.rollback()
    assert worker.pending() == 0


def test_a_rolled_back_savepoint_drops_only_its_own_items(session, worker) -> None:
    calls: list[str] = []
    outbox.HANDLERS["test.echo"] = lambda s, item: calls.append(item.key)
    try:
        outbox.add(session, "test.echo", "kept-before", {})
        try:
            with session.begin_nested():
                outbox.add(session, "test.echo", "lost-inside", {})
                session.flush()
                raise RuntimeError("the inner step fails")
        except RuntimeError:
            pass
        outbox.add(session, "test.echo", "kept-after", {})
        session.commit()
        assert worker.run() == 2
    finally:
        del outbox.HANDLERS["test.echo"]
    assert sorted(calls) == ["kept-after", "kept-before"]
    assert session.scalar(select(OutboxItem).where(OutboxItem.key == "lost-inside")) is None
