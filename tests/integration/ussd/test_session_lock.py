"""One step of a session at a time: twins wait for the first one's screen, retries are cached."""

from __future__ import annotations

import threading
import time
from typing import Any

from menus.engine import UssdEngine, UssdRequest, lock_key, session_key

from support.fakes_ussd import FakeBorrowerServices

PHONE = "+254722000555"


class SlowServices(FakeBorrowerServices):
    """The domain taking its time over the member look-up at the dial."""

    def find_member(self, phone: str) -> Any:
        time.sleep(0.3)
        return super().find_member(phone)


def request(session_id: str, text: str = "") -> UssdRequest:
    return UssdRequest(session_id, "*384*123#", PHONE, "63902", text)


def test_a_step_saves_the_session_and_releases_its_lock(redis) -> None:
    services = FakeBorrowerServices()
    services.add_member(PHONE)
    engine = UssdEngine(redis)
    reply = engine.handle(request("s-1"), services)
    assert reply.body.startswith("CON ")
    assert redis.get(session_key("s-1")) is not None
    assert redis.get(lock_key("s-1")) is None


def test_a_retry_gets_the_same_screen_without_running_the_step_again(redis) -> None:
    services = FakeBorrowerServices()
    services.add_member(PHONE)
    engine = UssdEngine(redis)
    first = engine.handle(request("s-2"), services)
    calls = list(services.calls)
    assert engine.handle(request("s-2"), services) == first
    assert services.calls == calls
    assert redis.get(lock_key("s-2")) is None


def test_a_twin_sent_while_the_first_is_running_waits_for_its_screen(redis) -> None:
    services = SlowServices()
    services.add_member(PHONE)
    engine = UssdEngine(redis)
    replies: list[Any] = []
    first = threading.Thread(target=lambda: replies.append(
        engine.handle(request("s-3"), services)))
    first.start()
    time.sleep(0.1)  # the first holds the session's lock, inside the slow look-up
    twin = engine.handle(request("s-3"), services)
    first.join()
    assert replies == [twin]
    assert services.calls.count("find_member") == 1
    assert redis.get(lock_key("s-3")) is None
