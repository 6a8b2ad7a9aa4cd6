"""Daraja callbacks and answers become plain events: every shared fixture, and broken ones."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from payments.providers.base import CallbackEvent, MalformedCallback
from payments.providers.parsing import (
    RESULT_CODES,
    normalize_result_code,
    outcome_for,
    parse_async_answer,
    parse_b2c_result,
    parse_b2c_timeout,
    parse_c2b,
    parse_callback,
    parse_reversal_result,
    parse_status_result,
    parse_stk_callback,
    parse_stk_push_answer,
    parse_stk_query_answer,
    parse_timeout,
    phone_or_none,
    to_minor_units,
)

NAIROBI = ZoneInfo("Africa/Nairobi")


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"daraja_{name}.json").read_text())


PARSERS: dict[str, Callable[[Any], object]] = {
    "stk_callback_success": parse_stk_callback,
    "stk_callback_cancelled": parse_stk_callback,
    "stk_callback_unreachable": parse_stk_callback,
    "c2b_confirmation": lambda body: parse_c2b(body, "c2b_confirmation"),
    "c2b_validation": lambda body: parse_c2b(body, "c2b_validation"),
    "b2c_result_success": parse_b2c_result,
    "b2c_result_failure": parse_b2c_result,
    "b2c_timeout": parse_b2c_timeout,
    "reversal_result": parse_reversal_result,
    "stk_push_response": parse_stk_push_answer,
    "stk_query_response": parse_stk_query_answer,
}


def test_every_daraja_fixture_has_a_parser() -> None:
    names = {p.stem.removeprefix("daraja_") for p in FIXTURES.glob("daraja_*.json")}
    assert names == set(PARSERS)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_daraja_fixture_parses(name: str) -> None:
    assert PARSERS[name](load(name)) is not None


# --- STK -----------------------------------------------------------------------------------


def test_successful_stk_callback_becomes_a_success_event() -> None:
    body = load("stk_callback_success")
    event = parse_stk_callback(body)
    assert (event.kind, event.outcome, event.result_code) == ("stk", "success", 0)
    assert event.external_id == "ws_CO_28112026091530123711000101"
    assert event.merchant_request_id == "3301-4a7b-9c2d-e5f6a7b8c9d01"
    assert event.amount == 45_000
    assert event.receipt == "TKS8A1B2C3"
    assert event.phone == "+254711000101"
    assert event.occurred_at == datetime(2026, 11, 28, 9, 16, 12, tzinfo=NAIROBI)
    assert event.description == "The service request is processed successfully."
    assert event.reason == "completed"
    assert event.raw == body


def test_cancelled_stk_callback_is_cancelled_without_money() -> None:
    event = parse_stk_callback(load("stk_callback_cancelled"))
    assert (event.outcome, event.result_code, event.reason) == (
        "cancelled", 1032, "cancelled by the customer")
    assert event.external_id == "ws_CO_28112026092011456711000101"
    assert (event.amount, event.receipt, event.phone, event.occurred_at) == (None,) * 4


def test_unreachable_customer_stk_callback_fails() -> None:
    event = parse_stk_callback(load("stk_callback_unreachable"))
    assert (event.outcome, event.result_code) == ("failed", 1037)
    assert event.reason == "customer unreachable (DS timeout, no response from the phone)"
    assert event.description == "DS timeout user cannot be reached"


def test_stk_balance_item_without_value_is_accepted() -> None:
    body = load("stk_callback_success")
    items = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    assert {"Name": "Balance"} in items
    assert parse_stk_callback(body).amount == 45_000


def test_stk_result_code_sent_as_text_is_normalised() -> None:
    body = load("stk_callback_cancelled")
    body["Body"]["stkCallback"]["ResultCode"] = "1032"
    assert parse_stk_callback(body).result_code == 1032


def test_event_repr_hides_the_phone_number() -> None:
    event = parse_stk_callback(load("stk_callback_success"))
    assert "254711000101" not in repr(event)


def _stk(body: dict[str, Any]) -> dict[str, Any]:
    return body["Body"]["stkCallback"]


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    return _stk(body)["CallbackMetadata"]["Item"]


def _drop_item(body: dict[str, Any], name: str) -> None:
    _stk(body)["CallbackMetadata"]["Item"] = [i for i in _items(body) if i["Name"] != name]


def _set_item(body: dict[str, Any], name: str, value: object) -> None:
    next(i for i in _items(body) if i["Name"] == name)["Value"] = value


STK_BREAKAGES: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("no Body", lambda b: b.pop("Body"), "Body must be a JSON object"),
    ("no stkCallback", lambda b: b["Body"].pop("stkCallback"), "Body.stkCallback must be"),
    ("no checkout id", lambda b: _stk(b).pop("CheckoutRequestID"),
     "Body.stkCallback.CheckoutRequestID is missing"),
    ("no merchant id", lambda b: _stk(b).pop("MerchantRequestID"),
     "Body.stkCallback.MerchantRequestID is missing"),
    ("no result code", lambda b: _stk(b).pop("ResultCode"),
     "Body.stkCallback.ResultCode is missing"),
    ("boolean result code", lambda b: _stk(b).update(ResultCode=True),
     "ResultCode must be a number or text"),
    ("null result code", lambda b: _stk(b).update(ResultCode=None),
     "ResultCode must be a number or text"),
    ("success without metadata", lambda b: _stk(b).pop("CallbackMetadata"),
     "a successful payment needs Amount"),
    ("success without receipt", lambda b: _drop_item(b, "MpesaReceiptNumber"),
     "a successful payment needs MpesaReceiptNumber"),
    ("amount with a fraction of a cent", lambda b: _set_item(b, "Amount", 450.005),
     "fractions of a cent"),
    ("amount as words", lambda b: _set_item(b, "Amount", "four fifty"), "is not a number"),
    ("negative amount", lambda b: _set_item(b, "Amount", -450), "at least zero"),
    ("date in another format", lambda b: _set_item(b, "TransactionDate", "2026-11-28"),
     "not a Daraja timestamp"),
    ("item without a name", lambda b: _items(b).append({"Value": 1}), "item lacks a Name"),
    ("metadata is a list", lambda b: _stk(b).update(CallbackMetadata=[]),
     "CallbackMetadata must be a JSON object"),
]


@pytest.mark.parametrize(("mutate", "message"), [(m, msg) for _, m, msg in STK_BREAKAGES],
                         ids=[name for name, _, _ in STK_BREAKAGES])
def test_broken_stk_callback_is_refused_with_a_clear_message(
    mutate: Callable[[dict[str, Any]], object], message: str
) -> None:
    body = load("stk_callback_success")
    mutate(body)
    with pytest.raises(MalformedCallback, match=message):
        parse_stk_callback(body)


@pytest.mark.parametrize("body", [None, [], "text", 42])
def test_stk_callback_that_is_not_an_object_is_refused(body: object) -> None:
    with pytest.raises(MalformedCallback, match="STK callback must be a JSON object"):
        parse_stk_callback(body)


# --- C2B -----------------------------------------------------------------------------------


def test_c2b_confirmation_becomes_a_paid_event() -> None:
    event = parse_c2b(load("c2b_confirmation"), "c2b_confirmation")
    assert (event.kind, event.outcome, event.result_code) == ("c2b_confirmation", "success", None)
    assert event.external_id == event.receipt == "TKS9Q8W7E6"
    assert event.amount == 50_000
    assert event.account_reference == "L1042"
    assert event.occurred_at == datetime(2026, 11, 28, 10, 15, 2, tzinfo=NAIROBI)
    assert event.description == "Pay Bill"


def test_c2b_masked_msisdn_gives_no_phone() -> None:
    assert parse_c2b(load("c2b_confirmation"), "c2b_confirmation").phone is None


def test_c2b_plain_msisdn_becomes_e164() -> None:
    body = load("c2b_confirmation")
    body["MSISDN"] = "254711000101"
    assert parse_c2b(body, "c2b_confirmation").phone == "+254711000101"


def test_c2b_validation_is_pending() -> None:
    event = parse_c2b(load("c2b_validation"), "c2b_validation")
    assert (event.kind, event.outcome, event.amount) == ("c2b_validation", "pending", 50_000)


def test_c2b_empty_bill_reference_is_none() -> None:
    body = load("c2b_confirmation")
    body["BillRefNumber"] = "  "
    assert parse_c2b(body, "c2b_confirmation").account_reference is None


C2B_BREAKAGES: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("no TransID", lambda b: b.pop("TransID"), r"C2B confirmation\.TransID is missing"),
    ("empty TransID", lambda b: b.update(TransID=""), r"TransID is missing or not text"),
    ("no amount", lambda b: b.pop("TransAmount"), r"C2B confirmation\.TransAmount is missing"),
    ("amount as words", lambda b: b.update(TransAmount="five hundred"), "is not a number"),
    ("amount with a fraction of a cent", lambda b: b.update(TransAmount="500.001"),
     "fractions of a cent"),
    ("amount NaN", lambda b: b.update(TransAmount="NaN"), "finite amount"),
    ("no time", lambda b: b.pop("TransTime"), "TransTime must be YYYYMMDDHHMMSS"),
    ("bad time", lambda b: b.update(TransTime="20261328101502"), "not a Daraja timestamp"),
]


@pytest.mark.parametrize(("mutate", "message"), [(m, msg) for _, m, msg in C2B_BREAKAGES],
                         ids=[name for name, _, _ in C2B_BREAKAGES])
def test_broken_c2b_is_refused_with_a_clear_message(
    mutate: Callable[[dict[str, Any]], object], message: str
) -> None:
    body = load("c2b_confirmation")
    mutate(body)
    with pytest.raises(MalformedCallback, match=message):
        parse_c2b(body, "c2b_confirmation")


def test_c2b_kind_must_be_a_c2b_kind() -> None:
    with pytest.raises(ValueError, match="not a C2B callback kind"):
        parse_c2b(load("c2b_confirmation"), "stk")  # type: ignore[arg-type]


# --- B2C, timeouts, reversal ---------------------------------------------------------------


def test_successful_b2c_result_carries_amount_receipt_and_both_ids() -> None:
    event = parse_b2c_result(load("b2c_result_success"))
    assert (event.kind, event.outcome, event.result_code) == ("b2c_result", "success", 0)
    assert event.external_id == "mkopo-disb-1042-1"
    assert event.conversation_id == "AG_20261128_2010a1b2c3d4e5f6a7b8"
    assert event.amount == 500_000
    assert event.receipt == "TKT1Z2X3C4"
    assert event.phone == "+254711000101"
    assert event.occurred_at == datetime(2026, 11, 28, 11, 2, 45, tzinfo=NAIROBI)


def test_failed_b2c_result_has_no_receipt() -> None:
    event = parse_b2c_result(load("b2c_result_failure"))
    assert (event.outcome, event.result_code) == ("failed", 2040)
    assert event.reason == "recipient is not a registered M-Pesa customer"
    assert event.external_id == "mkopo-disb-1043-1"
    assert (event.receipt, event.amount) == (None, None)


def test_b2c_single_result_parameter_may_come_as_a_bare_object() -> None:
    body = load("b2c_result_success")
    holder = body["Result"]["ResultParameters"]
    holder["ResultParameter"] = next(
        p for p in holder["ResultParameter"] if p["Key"] == "TransactionAmount")
    event = parse_b2c_result(body)
    # Without a TransactionReceipt parameter the receipt falls back to TransactionID.
    assert (event.amount, event.receipt) == (500_000, "TKT1Z2X3C4")


def test_successful_b2c_without_amount_is_refused() -> None:
    body = load("b2c_result_success")
    holder = body["Result"]["ResultParameters"]
    holder["ResultParameter"] = [
        p for p in holder["ResultParameter"] if p["Key"] != "TransactionAmount"]
    with pytest.raises(MalformedCallback, match="a successful B2C needs an amount and receipt"):
        parse_b2c_result(body)


def test_b2c_timeout_is_unknown_whatever_its_result_code() -> None:
    event = parse_b2c_timeout(load("b2c_timeout"))
    assert (event.kind, event.outcome, event.result_code) == ("b2c_timeout", "unknown", 1)
    assert event.external_id == "mkopo-disb-1044-1"
    assert event.conversation_id == "AG_20261128_2010aa11bb22cc33dd44"
    assert event.reason == "timed out in the M-Pesa queue; settle by status query"


@pytest.mark.parametrize("kind", ["status_timeout", "reversal_timeout"])
def test_status_and_reversal_timeouts_share_the_b2c_shape(kind: Any) -> None:
    event = parse_timeout(load("b2c_timeout"), kind)
    assert (event.kind, event.outcome) == (kind, "unknown")


def test_reversal_result_names_the_reversed_receipt() -> None:
    event = parse_reversal_result(load("reversal_result"))
    assert (event.kind, event.outcome, event.result_code) == ("reversal_result", "success", 0)
    assert event.external_id == "mkopo-rev-77-1"
    assert event.conversation_id == "AG_20261128_2010ee55ff66aa77bb88"
    assert event.receipt == "TKU5R6E7V8"
    assert event.original_receipt == "TKS9Q8W7E6"
    assert event.amount == 50_000
    assert event.phone == "+254711000101"
    assert event.occurred_at == datetime(2026, 11, 28, 12, 1, 33, tzinfo=NAIROBI)


RESULT_BREAKAGES: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("no Result", lambda b: b.pop("Result"), r"B2C result\.Result must be a JSON object"),
    ("no originator id", lambda b: b["Result"].pop("OriginatorConversationID"),
     r"Result\.OriginatorConversationID is missing"),
    ("no conversation id", lambda b: b["Result"].pop("ConversationID"),
     r"Result\.ConversationID is missing"),
    ("no result code", lambda b: b["Result"].pop("ResultCode"), r"Result\.ResultCode is missing"),
    ("parameters not an object", lambda b: b["Result"].update(ResultParameters=[1]),
     "ResultParameters must be a JSON object"),
    ("parameter without a key",
     lambda b: b["Result"]["ResultParameters"]["ResultParameter"].append({"Value": 1}),
     "item lacks a Key"),
    ("completion time garbled",
     lambda b: b["Result"]["ResultParameters"]["ResultParameter"].append(
         {"Key": "TransactionCompletedDateTime", "Value": "yesterday"}),
     "not a Daraja timestamp"),
]


@pytest.mark.parametrize(("mutate", "message"), [(m, msg) for _, m, msg in RESULT_BREAKAGES],
                         ids=[name for name, _, _ in RESULT_BREAKAGES])
def test_broken_b2c_result_is_refused_with_a_clear_message(
    mutate: Callable[[dict[str, Any]], object], message: str
) -> None:
    body = load("b2c_result_success")
    mutate(body)
    with pytest.raises(MalformedCallback, match=message):
        parse_b2c_result(body)


def test_broken_reversal_result_is_refused() -> None:
    body = load("reversal_result")
    body["Result"].pop("OriginatorConversationID")
    with pytest.raises(MalformedCallback, match=r"reversal result\.Result\.Originator"):
        parse_reversal_result(body)


# --- Transaction Status (no shared fixture: built here in Daraja's documented shape) -------


def status_result(code: int = 0, status: str = "Completed", **extra: object) -> dict[str, Any]:
    params = {
        "ReceiptNo": "TKV0STATUS1",
        "Amount": 250,
        "TransactionStatus": status,
        "FinalisedTime": 20261129083005,
        "OriginatorConversationID": "mkopo-disb-2001-1",
        "CreditPartyName": "254722000202 - TEST BORROWER",
        "DebitPartyName": "600000 - Mkopo",
        **extra,
    }
    return {"Result": {
        "ResultType": 0, "ResultCode": code, "ResultDesc": "The service request is processed.",
        "OriginatorConversationID": "status-q-9", "ConversationID": "AG_status_9",
        "TransactionID": "TKV0QUERY01",
        "ResultParameters": {"ResultParameter": [
            {"Key": key, "Value": value} for key, value in params.items()]},
    }}


def test_status_result_for_a_completed_transaction_is_success() -> None:
    event = parse_status_result(status_result())
    assert (event.kind, event.outcome, event.result_code) == ("status_result", "success", 0)
    assert (event.external_id, event.conversation_id) == ("status-q-9", "AG_status_9")
    assert event.queried_id == "mkopo-disb-2001-1"
    assert (event.receipt, event.amount) == ("TKV0STATUS1", 25_000)
    assert event.phone == "+254722000202"
    assert event.occurred_at == datetime(2026, 11, 29, 8, 30, 5, tzinfo=NAIROBI)


@pytest.mark.parametrize(("status", "outcome"), [
    ("Completed", "success"), ("Failed", "failed"), ("Cancelled", "cancelled"),
    ("Pending", "pending"), ("Mysterious", "unknown"),
])
def test_status_result_outcome_follows_the_transaction_status(status: str, outcome: str) -> None:
    assert parse_status_result(status_result(status=status)).outcome == outcome


def test_failed_status_query_says_nothing_certain() -> None:
    event = parse_status_result(status_result(code=2001))
    assert (event.outcome, event.result_code) == ("unknown", 2001)
    assert event.reason == "status query failed: wrong PIN or invalid initiator information"


# --- synchronous answers -------------------------------------------------------------------


def test_stk_push_answer_gives_the_checkout_ids() -> None:
    answer = parse_stk_push_answer(load("stk_push_response"))
    assert answer.checkout_request_id == "ws_CO_28112026091530123711000101"
    assert answer.merchant_request_id == "3301-4a7b-9c2d-e5f6a7b8c9d01"
    assert answer.customer_message == "Success. Request accepted for processing"


def test_stk_query_answer_result_code_text_becomes_a_number() -> None:
    answer = parse_stk_query_answer(load("stk_query_response"))
    assert (answer.outcome, answer.result_code) == ("success", 0)
    assert answer.subject_id == "ws_CO_28112026091530123711000101"


def test_refused_synchronous_answer_is_permanent() -> None:
    from core.outbox import PermanentError

    body = load("stk_push_response")
    body.update(ResponseCode="1", ResponseDescription="Rejected")
    with pytest.raises(PermanentError, match="Daraja refused the request: 1 Rejected"):
        parse_stk_push_answer(body)


def test_async_answer_without_conversation_id_is_malformed() -> None:
    with pytest.raises(MalformedCallback, match=r"B2C answer\.ConversationID is missing"):
        parse_async_answer({"ResponseCode": "0", "OriginatorConversationID": "k"}, "B2C answer")


def test_parse_callback_routes_by_kind() -> None:
    event = parse_callback("b2c_result", load("b2c_result_success"))
    assert isinstance(event, CallbackEvent) and event.kind == "b2c_result"
    with pytest.raises(ValueError, match="unknown callback kind"):
        parse_callback("nonsense", {})  # type: ignore[arg-type]


# --- codes and conversions -----------------------------------------------------------------


@pytest.mark.parametrize(("code", "outcome", "reason"), [
    (0, "success", "completed"),
    ("0", "success", "completed"),
    (1, "failed", "insufficient funds"),
    (17, "failed", "declined by an M-Pesa limit rule (rule limited)"),
    (1001, "failed", "another transaction is already in process for this customer"),
    (1032, "cancelled", "cancelled by the customer"),
    (1037, "failed", "customer unreachable (DS timeout, no response from the phone)"),
    (2001, "failed", "wrong PIN or invalid initiator information"),
    (2040, "failed", "recipient is not a registered M-Pesa customer"),
    ("500.001.1001", "pending", "transaction already in process"),
    (424242, "failed", "M-Pesa result code 424242"),
    ("SFC_IC0003", "unknown", "unrecognised M-Pesa code SFC_IC0003"),
    (None, "unknown", "no result code"),
])
def test_outcome_for_result_codes(code: object, outcome: str, reason: str) -> None:
    assert tuple(outcome_for(code)) == (outcome, reason)


def test_every_listed_code_has_a_reason() -> None:
    assert all(meaning.reason for meaning in RESULT_CODES.values())


@pytest.mark.parametrize(("raw", "expected"), [
    (0, 0), ("0", 0), (" 1032 ", 1032), ("500.001.1001", "500.001.1001"), ("C2B00012", "C2B00012"),
])
def test_result_codes_are_normalised(raw: object, expected: object) -> None:
    assert normalize_result_code(raw) == expected


@pytest.mark.parametrize("raw", [True, None, 1.5, "", []])
def test_result_code_of_the_wrong_type_is_refused(raw: object) -> None:
    with pytest.raises(MalformedCallback):
        normalize_result_code(raw)


@pytest.mark.parametrize(("raw", "cents"), [
    ("500.00", 50_000), ("0.10", 10), (450.0, 45_000), (5000, 500_000), (0.1, 10),
    (Decimal("12.34"), 1_234), ("1e2", 10_000), (19.99, 1_999),
])
def test_amounts_convert_exactly_to_cents(raw: object, cents: int) -> None:
    assert to_minor_units(raw) == cents


@pytest.mark.parametrize("raw", ["12.345", "abc", "Infinity", "-1", True, None, [1]])
def test_unusable_amounts_are_refused(raw: object) -> None:
    with pytest.raises(MalformedCallback):
        to_minor_units(raw)


@pytest.mark.parametrize(("raw", "phone"), [
    (254711000101, "+254711000101"), ("254711000101", "+254711000101"),
    ("0711000101", "+254711000101"), ("254711000101 - GRACE", "+254711000101"),
    ("25471****101", None), ("a3f9c0ffee", None), (None, None), ("", None),
])
def test_phone_numbers_become_e164_or_none(raw: object, phone: str | None) -> None:
    assert phone_or_none(raw) == phone
