"""Poison callbacks (#13.12): acknowledged, never applied, and an open break at once.

Each payload is a real Daraja fixture with one field spoiled the way a broken or
hostile sender would: the provider still gets its ResultCode 0 acknowledgement,
nothing reaches the ledger, the raw body stays in the inbox, and an operator finds
exactly one `unprocessable_callback` break saying why, however often it is resent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

import ledger
from payments import processing
from payments.inbox import store_callback
from payments.models import OPEN, UNPROCESSABLE_CALLBACK, CallbackInbox, ReconciliationBreak

TOKEN = "test-callback-token"
ACK = {"ResultCode": 0, "ResultDesc": "Accepted"}


def stk_amount(value: Any) -> Callable[[Any], tuple[str, Any]]:
    def spoil(load: Any) -> tuple[str, Any]:
        body = load("daraja_stk_callback_success.json")
        body["Body"]["stkCallback"]["CallbackMetadata"]["Item"][0]["Value"] = value
        return "stk", body
    return spoil


def c2b_amount(value: Any) -> Callable[[Any], tuple[str, Any]]:
    def spoil(load: Any) -> tuple[str, Any]:
        return "c2b/confirmation", {**load("daraja_c2b_confirmation.json"), "TransAmount": value}
    return spoil


def b2c_amount(value: Any) -> Callable[[Any], tuple[str, Any]]:
    def spoil(load: Any) -> tuple[str, Any]:
        body = load("daraja_b2c_result_success.json")
        body["Result"]["ResultParameters"]["ResultParameter"][0]["Value"] = value
        return "b2c/result", body
    return spoil


def b2c_with_only_a_conversation_id(load: Any) -> tuple[str, Any]:
    body = load("daraja_b2c_result_success.json")
    del body["Result"]["OriginatorConversationID"]
    return "b2c/result", body


def reversal_amount(value: Any) -> Callable[[Any], tuple[str, Any]]:
    def spoil(load: Any) -> tuple[str, Any]:
        body = load("daraja_reversal_result.json")
        body["Result"]["ResultParameters"]["ResultParameter"][1]["Value"] = value
        return "reversal/result", body
    return spoil


POISON = {
    # name: (how to spoil a fixture, what the operator reads on the break)
    "stk-1e300": (stk_amount(1e300), "larger than any M-Pesa payment"),
    "stk-negative": (stk_amount(-450.0), "at least zero"),
    "stk-zero": (stk_amount(0), "a completed payment of 0 cents"),
    "stk-not-a-number": (stk_amount("four fifty"), "is not a number"),
    "stk-a-list": (stk_amount([450]), "must be a number"),
    "stk-fraction-of-a-cent": (stk_amount(450.001), "fractions of a cent"),
    "c2b-1e300": (c2b_amount("1e300"), "larger than any M-Pesa payment"),
    "c2b-negative": (c2b_amount("-500.00"), "at least zero"),
    "c2b-zero": (c2b_amount("0.00"), "a completed payment of 0 cents"),
    "c2b-not-a-number": (c2b_amount("500 bob"), "is not a number"),
    "c2b-infinity": (c2b_amount("Infinity"), "finite amount"),
    "b2c-1e300": (b2c_amount(1e300), "larger than any M-Pesa payment"),
    "b2c-negative": (b2c_amount(-5000), "at least zero"),
    "b2c-only-conversation-id": (b2c_with_only_a_conversation_id,
                                 "OriginatorConversationID is missing"),
    "reversal-not-a-number": (reversal_amount("five hundred"), "is not a number"),
}


def post(client: Any, path: str, body: Any) -> Any:
    return client.post(f"/mpesa/{TOKEN}/{path}", data=json.dumps(body),
                       headers={"Content-Type": "application/json"})


def breaks(session: Any) -> list[ReconciliationBreak]:
    session.expire_all()
    return list(session.scalars(select(ReconciliationBreak).order_by(ReconciliationBreak.id)))


@pytest.mark.parametrize("name", list(POISON))
def test_a_poison_callback_is_acked_and_becomes_one_open_break_at_once(
    client, session, worker, fixture_payload, name
) -> None:
    spoil, reason = POISON[name]
    path, body = spoil(fixture_payload)
    for _ in range(3):  # M-Pesa resends what it thinks was lost
        response = post(client, path, body)
        assert (response.status_code, response.json) == (200, ACK)
        worker.run()

    [item] = breaks(session)
    assert (item.type, item.status) == (UNPROCESSABLE_CALLBACK, OPEN)
    assert reason in item.details["reason"] and "cannot be applied" in item.details["reason"]
    inbox = session.get(CallbackInbox, item.inbox_id)
    assert inbox is not None and inbox.status == "failed"
    assert json.loads(inbox.raw) == json.loads(json.dumps(body))  # the raw body is kept
    assert session.scalar(select(ledger.JournalEntry.id)) is None  # nothing posted
    assert ledger.trial_balance(session).balanced


def test_a_body_that_is_not_json_gets_400_and_one_break(client, session) -> None:
    for _ in range(2):
        response = client.post(f"/mpesa/{TOKEN}/b2c/result", data='{"Result": ',
                               headers={"Content-Type": "application/json"})
        assert response.status_code == 400  # CONTRACT: malformed JSON gets 400
    [item] = breaks(session)
    assert item.type == UNPROCESSABLE_CALLBACK and "malformed JSON" in item.details["reason"]


def test_an_unreadable_c2b_validation_is_answered_not_broken(client, session) -> None:
    # No money moves on a validation, and it was answered when it came.
    client.post(f"/mpesa/{TOKEN}/c2b/validation", data="[1, 2]",
                headers={"Content-Type": "application/json"})
    assert breaks(session) == []


def test_a_callback_that_keeps_crashing_becomes_a_break_when_given_up(
    session, monkeypatch, fixture_payload
) -> None:
    stored = store_callback(session, "c2b_confirmation",
                            json.dumps(fixture_payload("daraja_c2b_confirmation.json")),
                            "127.0.0.1")

    def explode(*_: Any) -> None:
        raise RuntimeError("lending is down")

    monkeypatch.setitem(processing.ROUTES, "c2b_confirmation", explode)
    for attempt in range(1, processing.MAX_ATTEMPTS + 1):
        with pytest.raises(RuntimeError):
            processing.process_callback(stored.inbox_id)
        assert len(breaks(session)) == (1 if attempt == processing.MAX_ATTEMPTS else 0)
    [item] = breaks(session)
    assert item.type == UNPROCESSABLE_CALLBACK and "lending is down" in item.details["reason"]
    assert processing.process_callback(stored.inbox_id) == "skipped"
    assert len(breaks(session)) == 1
