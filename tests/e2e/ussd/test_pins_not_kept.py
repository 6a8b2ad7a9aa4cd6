"""Typed PINs are never kept: not in the session's path in Redis, not in the replay cache's
key names, not in the stored end-of-session event, not in any log line."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import select

from menus.engine import PIN_MASK, mask_path, new_answers, session_key
from menus.models import UssdEvent

from support.ussd import PHONE

PIN, WRONG = "1357", "2468"


def everything_in_redis(redis) -> str:
    """Every key name and every string value, as one text to search."""
    out = []
    for key in redis.scan_iter("*"):
        out.append(key.decode())
        if redis.type(key) == b"string":
            out.append(redis.get(key).decode(errors="replace"))
    return "\n".join(out)


def holds(text: str, pin: str) -> bool:
    """The PIN as a value of its own: random hex in key names and tokens may contain its digits."""
    return re.search(rf"(?<![0-9A-Za-z]){pin}(?![0-9A-Za-z])", text) is not None


def stored_state(redis, session_id: str) -> dict:
    return json.loads(redis.get(session_key(session_id)))


def test_the_balance_path_keeps_no_pin_in_redis_or_the_stored_event(
        ussd, member, redis, session, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    ussd.dial("1", WRONG)
    ussd.expect("Wrong PIN")
    ussd.reply(PIN)
    ussd.expect("MK00001")
    state = stored_state(redis, ussd.session_id)
    assert state["text"] == f"1*{PIN_MASK}*{PIN_MASK}" and state["masked"] == [1, 2]
    stored = everything_in_redis(redis)
    assert not holds(stored, PIN) and not holds(stored, WRONG)

    assert ussd.drop("Success").status_code == 200
    row = session.scalar(select(UssdEvent).where(UssdEvent.session_id == ussd.session_id))
    assert row.input == f"1*{PIN_MASK}*{PIN_MASK}"
    assert PIN not in caplog.text and WRONG not in caplog.text


def test_new_pins_of_a_registration_are_masked_and_forgotten_at_the_end(
        ussd, services, redis, session) -> None:
    ussd.dial("1", "Amina Wanjiru", "23456789", "2580")
    assert stored_state(redis, ussd.session_id)["text"] == f"1*Amina Wanjiru*23456789*{PIN_MASK}"
    ussd.reply("2580")
    ussd.reply("1")
    ussd.reply("1")
    ussd.expect("Thank you Amina", end=True)
    assert not holds(everything_in_redis(redis), "2580")
    ussd.drop("Success")
    row = session.scalar(select(UssdEvent).where(UssdEvent.session_id == ussd.session_id))
    assert row.input == f"1*Amina Wanjiru*23456789*{PIN_MASK}*{PIN_MASK}*1*1"


def test_a_retry_of_a_step_with_a_pin_is_answered_the_same_without_the_pin_kept(
        ussd, member, redis) -> None:
    ussd.dial("1", PIN)
    first = ussd.screen
    redis.delete(*[k for k in redis.scan_iter("ussd:r:*")])  # the replay cache expired
    again = ussd.post(f"1*{PIN}")
    assert again.get_data(as_text=True)[4:] == first
    ussd.reply("00")
    assert stored_state(redis, ussd.session_id)["text"] == f"1*{PIN_MASK}*00"


def test_an_event_for_a_session_we_no_longer_hold_masks_every_pin_shaped_answer(
        client, services, session) -> None:
    form = {"sessionId": "ATUid_gone", "phoneNumber": PHONE, "serviceCode": "*384*123#",
            "status": "Incomplete", "input": "1*4821*2*250", "date": "2026-03-02 09:14:03"}
    assert client.post("/ussd/events", data=form).status_code == 200
    row = session.scalar(select(UssdEvent).where(UssdEvent.session_id == "ATUid_gone"))
    assert row.input == f"1*{PIN_MASK}*2*250"


def test_a_pin_locked_until_unlocked_says_who_unlocks_it(ussd, services, member) -> None:
    member.view = replace(member.view, locked_until=datetime(9999, 12, 31, tzinfo=UTC))
    ussd.dial("1")
    ussd.expect("visit your field partner or call", end=True)


def test_masked_positions_match_any_answer_and_unknown_paths_mask_pin_shapes() -> None:
    assert new_answers(f"1*{PIN_MASK}", f"1*{PIN}*2") == ["2"]
    assert new_answers(f"1*{PIN_MASK}", f"1*{PIN}") == []
    assert new_answers(f"1*{PIN_MASK}", "3*9999*2") == ["2"]  # out of step: the last only
    assert mask_path(f"1*{PIN}*5000*250", None) == f"1*{PIN_MASK}*{PIN_MASK}*250"
    assert mask_path(f"1*{PIN}*5000", [2]) == f"1*{PIN}*{PIN_MASK}"
