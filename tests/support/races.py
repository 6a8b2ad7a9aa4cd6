"""Races for the row-lock tests (PostgreSQL): actions released at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

JOIN_TIMEOUT = 60  # a deadlocked race fails the test instead of hanging the suite


def race(*actions: Callable[[], Any]) -> list[Any]:
    """Start every action at the same moment, each in its own thread; return, in order,
    what each returned or the exception it raised (the race's loser is part of the result)."""
    start = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(i: int, action: Callable[[], Any]) -> None:
        start.wait()
        try:
            results[i] = action()
        except Exception as exc:  # noqa: BLE001
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a racer never finished"
    return results


def race_in_transactions(db: Any, *calls: Callable[[Any], Any]) -> list[Any]:
    """`race`, each call given a session of its own transaction (committed when it returns)."""
    def in_transaction(call: Callable[[Any], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with db.transaction() as session:
                return call(session)
        return run

    return race(*(in_transaction(call) for call in calls))


def outcomes(results: list[Any], refusal: type[Exception]) -> list[str]:
    """'ok' for each racer that finished, the code of each refusal, sorted; any other
    exception is a bug and is raised."""
    codes = []
    for result in results:
        if isinstance(result, refusal):
            codes.append(result.code)  # type: ignore[attr-defined]
        elif isinstance(result, BaseException):
            raise result
        else:
            codes.append("ok")
    return sorted(codes)
