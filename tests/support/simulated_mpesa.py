"""The app and the M-Pesa simulator as the tests' features share them.

`sim` makes the simulator this process's provider, its callbacks posted into the test's
app in-process; `committed_app` is the app on the real engine (its requests commit for
real) for races and fault tests, and `simulating(app, settings)` is the simulator posting
into such an app. `assert_books_sound` is what every money test checks last.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

import ledger
from ledger import MOBILE_MONEY_FLOAT
from payments.factory import using_provider
from payments.providers import simulator
from payments.providers.simulator import SimulatorProvider


@contextmanager
def simulating(app: Any, settings: Any) -> Iterator[SimulatorProvider]:
    """The simulator as provider, its callbacks posted into `app` in-process."""
    provider = SimulatorProvider(settings)
    try:
        with simulator.using_transport(httpx.WSGITransport(app=app)), using_provider(provider):
            yield provider
    finally:
        simulator.clear_behaviours()


@pytest.fixture
def sim(app: Any, runtime: Any, redis: Any) -> Iterator[SimulatorProvider]:
    """The simulator as this process's provider, posting callbacks into `app` in-process."""
    with simulating(app, runtime.settings) as provider:
        yield provider


@pytest.fixture
def committed_app(runtime: Any, committed_db: Any) -> Any:
    """The app on the real engine: its requests commit for real."""
    from gateway import create_app

    return create_app({"RUNTIME": runtime, "MKOPO_ENV": "test",
                       "instance_path": runtime.settings.instance_path,
                       "callback_token": runtime.settings.callback_token,
                       "secret_key": runtime.settings.secret_key,
                       "pin_pepper": runtime.settings.pin_pepper})


def assert_books_sound(session: Any, *, against_simulator: bool = True) -> None:
    """The ledger verifies, the trial balance is zero, and the float is what M-Pesa (the
    simulator) says it moved."""
    session.expire_all()
    assert ledger.verify(session).ok
    assert ledger.trial_balance(session).balanced
    if against_simulator:
        assert ledger.balance(session, MOBILE_MONEY_FLOAT) == simulator.net_float(session)
