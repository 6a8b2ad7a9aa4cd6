"""The Africa's Talking sender's reading of SMS.send answers, through an injected transport."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.outbox import TransientError
from core.settings import Settings
from messaging.senders import (
    AfricasTalkingSender,
    SendResult,
    SimulatorSender,
    cost_minor,
    sender_for,
)

PHONE = "+254711000101"
SETTINGS = Settings(sms_provider="africastalking", at_username="sandbox", at_api_key="k",
                    at_sender_id="MKOPO")


class Transport:
    """Stands in for `africastalking.SMS.send`, answering like the API does."""

    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer, self.error = answer, error
        self.calls: list[tuple[str, list[str], str | None]] = []

    def __call__(self, message: str, recipients: list[str], sender_id: str | None) -> Any:
        self.calls.append((message, recipients, sender_id))
        if self.error is not None:
            raise self.error
        return self.answer


def answer(code: int, status: str, message_id: str = "ATXid_1", cost: str = "KES 0.8000"
           ) -> dict[str, Any]:
    recipient = {"statusCode": code, "number": PHONE, "status": status, "cost": cost,
                 "messageId": message_id}
    return {"SMSMessageData": {"Message": "Sent to 1/1", "Recipients": [recipient]}}


@pytest.mark.parametrize(("code", "status"), [(100, "Processed"), (101, "Success"),
                                              (102, "Queued")])
def test_accepted_codes_are_sent(code: int, status: str) -> None:
    transport = Transport(answer(code, status))
    result = AfricasTalkingSender(SETTINGS, transport).send(PHONE, "Habari")
    assert result == SendResult("sent", "ATXid_1", "KES 0.8000")
    assert transport.calls == [("Habari", [PHONE], "MKOPO")]


@pytest.mark.parametrize(("code", "status", "reason"), [
    (401, "failed", "RiskHold"),
    (402, "failed", "InvalidSenderId"),
    (403, "failed", "InvalidPhoneNumber"),
    (404, "failed", "UnsupportedNumberType"),
    (406, "rejected", "UserInBlacklist"),
    (409, "rejected", "DoNotDisturbRejection"),
    (502, "rejected", "RejectedByGateway"),
])
def test_refusals_are_final(code: int, status: str, reason: str) -> None:
    transport = Transport(answer(code, reason, message_id="None", cost="0"))
    result = AfricasTalkingSender(SETTINGS, transport).send(PHONE, "Habari")
    assert result == SendResult(status, None, "0", reason, permanent=True)


@pytest.mark.parametrize(("code", "reason"), [
    (405, "InsufficientBalance"), (407, "CouldNotRoute"), (500, "InternalServerError"),
    (501, "GatewayError"), (999, "SomethingNew"),
])
def test_passing_troubles_are_retried(code: int, reason: str) -> None:
    transport = Transport(answer(code, reason, message_id="None", cost="0"))
    with pytest.raises(TransientError, match=f"^africastalking: {reason}$"):
        AfricasTalkingSender(SETTINGS, transport).send(PHONE, "Habari")


@pytest.mark.parametrize("error", [TimeoutError("read timed out"), ConnectionError("reset"),
                                   RuntimeError("401 Unauthorized")])
def test_network_and_http_errors_are_retried(error: Exception) -> None:
    sender = AfricasTalkingSender(SETTINGS, Transport(error=error))
    with pytest.raises(TransientError, match=f"^africastalking: {type(error).__name__}$"):
        sender.send(PHONE, "Habari")


@pytest.mark.parametrize("body", ["not json", json.dumps({"SMSMessageData": {}}),
                                  json.dumps({"SMSMessageData": {"Recipients": []}})])
def test_unreadable_answers_are_retried(body: str) -> None:
    with pytest.raises(TransientError):
        AfricasTalkingSender(SETTINGS, Transport(body)).send(PHONE, "Habari")


def test_a_json_text_answer_is_read() -> None:
    transport = Transport(json.dumps(answer(101, "Success", "ATXid_9")))
    result = AfricasTalkingSender(SETTINGS, transport).send(PHONE, "Habari")
    assert result.provider_message_id == "ATXid_9"


def test_without_a_sender_id_the_account_default_is_used() -> None:
    transport = Transport(answer(101, "Success"))
    AfricasTalkingSender(SETTINGS.replace(at_sender_id=""), transport).send(PHONE, "Hi")
    assert transport.calls == [("Hi", [PHONE], None)]


def test_a_number_that_is_not_e164_is_refused_without_calling_out() -> None:
    transport = Transport(answer(101, "Success"))
    result = AfricasTalkingSender(SETTINGS, transport).send("0711000101", "Hi")
    assert result == SendResult("failed", None, None, "InvalidPhoneNumber", permanent=True)
    assert transport.calls == []


@pytest.mark.parametrize(("cost", "minor"), [
    ("KES 0.8000", 80), ("KES 1.0050", 100), ("KES 1.0150", 102), ("0", 0),
    ("UGX 25", 25), (None, None), ("", None), ("KES n/a", None),
])
def test_costs_are_read_into_minor_units(cost: str | None, minor: int | None) -> None:
    assert cost_minor(cost) == minor


def test_the_simulator_delivers_at_once() -> None:
    result = SimulatorSender().send(PHONE, "Hi")
    assert (result.status, result.cost, result.permanent) == ("success", "KES 0.0000", False)
    assert result.provider_message_id is not None
    assert result.provider_message_id.startswith("SIM-")


def test_settings_choose_the_sender() -> None:
    assert isinstance(sender_for(Settings()), SimulatorSender)
    assert isinstance(sender_for(SETTINGS), AfricasTalkingSender)
