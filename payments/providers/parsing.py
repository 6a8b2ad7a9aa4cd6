"""Daraja payloads (callbacks and synchronous answers) turned into plain events.

Callback parsing lives here, not in the Daraja adapter, because the callback-processing
code needs it without an HTTP client. Daraja's types wobble (fixtures/README): `ResultCode`
is a number in callbacks and a string in query answers, C2B amounts are strings, STK items
may come without a value, and a one-element list may arrive as a bare object. Everything
is normalised at this edge so the rest of `payments/` sees ints, aware datetimes and E.164.

Result-code meanings come from Safaricom's Daraja documentation (developer.safaricom.co.ke,
M-Pesa Express, B2C, Transaction Status and Reversal pages) and its published error-code
lists; anything not listed there is treated conservatively (see `outcome_for`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NamedTuple

from core.outbox import PermanentError
from core.phones import InvalidPhoneNumber, normalize_phone
from payments.providers.base import (
    CENTS_PER_SHILLING,
    NAIROBI,
    C2BRegistered,
    CallbackEvent,
    EventKind,
    MalformedCallback,
    Outcome,
    PaymentRequested,
    ResultCode,
    StatusAnswer,
)

# --- result codes ------------------------------------------------------------------------


class CodeMeaning(NamedTuple):
    outcome: Outcome
    reason: str


# Sources: Daraja API docs (M-Pesa Express result codes, B2C/Reversal/Transaction Status
# result codes, API error codes) and Safaricom's published Daraja error reference.
RESULT_CODES: dict[ResultCode, CodeMeaning] = {
    0: CodeMeaning("success", "completed"),
    1: CodeMeaning("failed", "insufficient funds"),
    2: CodeMeaning("failed", "amount below the minimum M-Pesa allows"),
    3: CodeMeaning("failed", "amount above the maximum M-Pesa allows"),
    4: CodeMeaning("failed", "would exceed the daily transfer limit"),
    8: CodeMeaning("failed", "would exceed the account's maximum balance"),
    17: CodeMeaning("failed", "declined by an M-Pesa limit rule (rule limited)"),
    26: CodeMeaning("failed", "M-Pesa system busy"),
    1001: CodeMeaning("failed", "another transaction is already in process for this customer"),
    1019: CodeMeaning("failed", "transaction expired before the customer answered"),
    1025: CodeMeaning("failed", "M-Pesa could not send the payment prompt"),
    1032: CodeMeaning("cancelled", "cancelled by the customer"),
    1036: CodeMeaning("failed", "the customer's phone could not show the prompt"),
    1037: CodeMeaning("failed", "customer unreachable (DS timeout, no response from the phone)"),
    2001: CodeMeaning("failed", "wrong PIN or invalid initiator information"),
    2006: CodeMeaning("failed", "declined: the customer's account cannot transact"),
    2028: CodeMeaning("failed", "request not permitted for this shortcode"),
    2040: CodeMeaning("failed", "recipient is not a registered M-Pesa customer"),
    8006: CodeMeaning("failed", "initiator security credential is locked"),
    9999: CodeMeaning("failed", "M-Pesa could not send the payment prompt"),
    # API error code in synchronous answers: still being processed (STK query) or a
    # transaction already under way for the subscriber (STK push).
    "500.001.1001": CodeMeaning("pending", "transaction already in process"),
}

_UNKNOWN = CodeMeaning("unknown", "no result code")


def normalize_result_code(value: object) -> ResultCode:
    """Return an int for numeric codes (`0`, `"0"`) and the stripped text for others."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedCallback(f"ResultCode must be a number or text, not {value!r}")
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text:
        raise MalformedCallback("ResultCode is empty")
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def outcome_for(code: object) -> CodeMeaning:
    """Say what a Daraja result code means for the money: an outcome and a short reason."""
    if code is None:
        return _UNKNOWN
    normalized = normalize_result_code(code)
    meaning = RESULT_CODES.get(normalized)
    if meaning is not None:
        return meaning
    if isinstance(normalized, int):
        # Daraja: every non-zero result code means the transaction did not complete.
        return CodeMeaning("failed", f"M-Pesa result code {normalized}")
    return CodeMeaning("unknown", f"unrecognised M-Pesa code {normalized}")


# --- value conversions -------------------------------------------------------------------


MAX_SHILLINGS = Decimal(100_000_000)
"""Far above any one M-Pesa transaction (KES 250,000 for people, more for businesses):
a larger amount is a broken or hostile payload, and `1e999999` must not become an int."""


def to_minor_units(value: object, what: str = "amount") -> int:
    """Convert a Daraja amount (`"500.00"`, `450.0`, `5000`) to integer cents, exactly."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise MalformedCallback(f"{what} must be a number, not {value!r}")
    try:
        # repr() of a float is the shortest text that reads back the same: the JSON text.
        shillings = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation as exc:
        raise MalformedCallback(f"{what} is not a number: {value!r}") from exc
    if not shillings.is_finite() or shillings < 0:
        raise MalformedCallback(f"{what} must be a finite amount of at least zero: {value!r}")
    if shillings > MAX_SHILLINGS:
        raise MalformedCallback(f"{what} is larger than any M-Pesa payment: {value!r}")
    cents = shillings * CENTS_PER_SHILLING
    if cents != cents.to_integral_value():
        raise MalformedCallback(f"{what} has fractions of a cent: {value!r}")
    return int(cents)


_TIMESTAMP_FORMATS = ("%Y%m%d%H%M%S", "%d.%m.%Y %H:%M:%S")


def parse_timestamp(value: object, what: str = "timestamp") -> datetime:
    """Read a Daraja timestamp (`20261128091612` or `28.11.2026 11:02:45`, Nairobi time)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedCallback(f"{what} must be YYYYMMDDHHMMSS, not {value!r}")
    text = str(value).strip()
    for fmt in _TIMESTAMP_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=NAIROBI)
        except ValueError:
            continue
    raise MalformedCallback(f"{what} is not a Daraja timestamp: {value!r}")


def phone_or_none(value: object) -> str | None:
    """E.164 for a usable MSISDN; None for masked (`25471****101`), hashed or absent ones."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    # Party names read "254711000101 - GRACE WANJIKU"; the number comes first.
    text = str(value).split(" - ", 1)[0].strip()
    if not re.fullmatch(r"\+?\d{9,15}", text):
        return None
    try:
        return normalize_phone(text if text.startswith(("+", "0")) else f"+{text}")
    except InvalidPhoneNumber:
        return None


# --- payload access ----------------------------------------------------------------------


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedCallback(f"{where} must be a JSON object")
    return value


def _text(body: Mapping[str, Any], key: str, where: str) -> str:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        raise MalformedCallback(f"{where}.{key} is missing or not text")
    return str(value).strip()


def _optional_text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def _result_code(body: Mapping[str, Any], where: str) -> ResultCode:
    if "ResultCode" not in body:
        raise MalformedCallback(f"{where}.ResultCode is missing")
    try:
        return normalize_result_code(body["ResultCode"])
    except MalformedCallback as exc:
        raise MalformedCallback(f"{where}: {exc}") from exc


def _as_list(value: object) -> list[Any]:
    """Daraja sends a one-element list as the bare element; accept both."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _named_values(items: object, name_key: str, where: str) -> dict[str, Any]:
    """Turn `[{"Name": "Amount", "Value": 1}]` into `{"Amount": 1}`; valueless items are kept."""
    values: dict[str, Any] = {}
    for item in _as_list(items):
        entry = _mapping(item, f"{where} item")
        name = entry.get(name_key)
        if not isinstance(name, str):
            raise MalformedCallback(f"{where} item lacks a {name_key}")
        values[name] = entry.get("Value")
    return values


def _amount_or_none(values: Mapping[str, Any], key: str, where: str) -> int | None:
    return None if values.get(key) is None else to_minor_units(values[key], f"{where}.{key}")


def _time_or_none(values: Mapping[str, Any], key: str, where: str) -> datetime | None:
    return None if values.get(key) is None else parse_timestamp(values[key], f"{where}.{key}")


# --- callback parsers --------------------------------------------------------------------


def parse_stk_callback(body: object) -> CallbackEvent:
    """Parse an M-Pesa Express result posted to /mpesa/<token>/stk."""
    where = "Body.stkCallback"
    callback = _mapping(_mapping(_mapping(body, "STK callback").get("Body"), "Body").get(
        "stkCallback"), where)
    code = _result_code(callback, where)
    meaning = outcome_for(code)
    items: dict[str, Any] = {}
    if "CallbackMetadata" in callback:
        metadata = _mapping(callback["CallbackMetadata"], f"{where}.CallbackMetadata")
        items = _named_values(metadata.get("Item"), "Name", f"{where}.CallbackMetadata.Item")
    if meaning.outcome == "success":
        for key in ("Amount", "MpesaReceiptNumber"):
            if items.get(key) is None:
                raise MalformedCallback(f"{where}: a successful payment needs {key}")
    return CallbackEvent(
        kind="stk",
        external_id=_text(callback, "CheckoutRequestID", where),
        merchant_request_id=_text(callback, "MerchantRequestID", where),
        outcome=meaning.outcome,
        result_code=code,
        description=_optional_text(callback, "ResultDesc") or "",
        reason=meaning.reason,
        amount=_amount_or_none(items, "Amount", where),
        receipt=_optional_text(items, "MpesaReceiptNumber"),
        phone=phone_or_none(items.get("PhoneNumber")),
        occurred_at=_time_or_none(items, "TransactionDate", where),
        raw=dict(_mapping(body, "STK callback")),
    )


C2BKind = Literal["c2b_confirmation", "c2b_validation"]


def parse_c2b(body: object, kind: C2BKind) -> CallbackEvent:
    """Parse a C2B validation or confirmation (a customer paid our paybill)."""
    if kind not in ("c2b_confirmation", "c2b_validation"):
        raise ValueError(f"not a C2B callback kind: {kind!r}")
    where = "C2B " + kind.removeprefix("c2b_")
    payload = _mapping(body, where)
    if "TransAmount" not in payload:
        raise MalformedCallback(f"{where}.TransAmount is missing")
    confirmed = kind == "c2b_confirmation"
    return CallbackEvent(
        kind=kind,
        external_id=_text(payload, "TransID", where),
        # A validation asks whether to accept: nothing has happened to the money yet.
        outcome="success" if confirmed else "pending",
        result_code=None,
        description=_optional_text(payload, "TransactionType") or "",
        reason="paid" if confirmed else "awaiting our validation",
        amount=to_minor_units(payload["TransAmount"], f"{where}.TransAmount"),
        receipt=_text(payload, "TransID", where),
        phone=phone_or_none(payload.get("MSISDN")),
        account_reference=_optional_text(payload, "BillRefNumber"),
        occurred_at=parse_timestamp(payload.get("TransTime"), f"{where}.TransTime"),
        raw=dict(payload),
    )


class _ResultEnvelope(NamedTuple):
    result: Mapping[str, Any]
    code: ResultCode
    params: dict[str, Any]
    where: str


def _result_envelope(body: object, what: str) -> _ResultEnvelope:
    """Open the `Result` object that B2C, status and reversal callbacks share."""
    where = f"{what}.Result"
    result = _mapping(_mapping(body, what).get("Result"), where)
    params: dict[str, Any] = {}
    if result.get("ResultParameters") is not None:
        holder = _mapping(result["ResultParameters"], f"{where}.ResultParameters")
        params = _named_values(
            holder.get("ResultParameter"), "Key", f"{where}.ResultParameters.ResultParameter"
        )
    return _ResultEnvelope(result, _result_code(result, where), params, where)


def _result_event(kind: EventKind, env: _ResultEnvelope, meaning: CodeMeaning,
                  raw: object, **details: Any) -> CallbackEvent:
    return CallbackEvent(
        kind=kind,
        external_id=_text(env.result, "OriginatorConversationID", env.where),
        conversation_id=_text(env.result, "ConversationID", env.where),
        outcome=meaning.outcome,
        result_code=env.code,
        description=_optional_text(env.result, "ResultDesc") or "",
        reason=meaning.reason,
        raw=dict(_mapping(raw, kind)),
        **details,
    )


def parse_b2c_result(body: object) -> CallbackEvent:
    """Parse a B2C (disbursement) result posted to /b2c/result."""
    env = _result_envelope(body, "B2C result")
    meaning = outcome_for(env.code)
    receipt = _optional_text(env.params, "TransactionReceipt")
    if meaning.outcome == "success":
        # A failed B2C carries a placeholder TransactionID; only a success has a receipt.
        receipt = receipt or _optional_text(env.result, "TransactionID")
        if env.params.get("TransactionAmount") is None or receipt is None:
            raise MalformedCallback(f"{env.where}: a successful B2C needs an amount and receipt")
    return _result_event(
        "b2c_result", env, meaning, body,
        amount=_amount_or_none(env.params, "TransactionAmount", env.where),
        receipt=receipt if meaning.outcome == "success" else None,
        phone=phone_or_none(env.params.get("ReceiverPartyPublicName")),
        occurred_at=_time_or_none(env.params, "TransactionCompletedDateTime", env.where),
    )


TimeoutKind = Literal["b2c_timeout", "status_timeout", "reversal_timeout"]


def parse_timeout(body: object, kind: TimeoutKind) -> CallbackEvent:
    """Parse a queue timeout; whether the money moved is unknown until a status query."""
    if kind not in ("b2c_timeout", "status_timeout", "reversal_timeout"):
        raise ValueError(f"not a timeout callback kind: {kind!r}")
    env = _result_envelope(body, kind.replace("_", " "))
    # The timeout's own ResultCode (often 1) is not the transaction's result: ignore it.
    meaning = CodeMeaning("unknown", "timed out in the M-Pesa queue; settle by status query")
    return _result_event(kind, env, meaning, body)


def parse_b2c_timeout(body: object) -> CallbackEvent:
    """Parse a B2C queue timeout posted to /b2c/timeout."""
    return parse_timeout(body, "b2c_timeout")


_TRANSACTION_STATUS: dict[str, CodeMeaning] = {
    "completed": CodeMeaning("success", "completed"),
    "failed": CodeMeaning("failed", "the transaction failed"),
    "declined": CodeMeaning("failed", "the transaction was declined"),
    "expired": CodeMeaning("failed", "the transaction expired"),
    "cancelled": CodeMeaning("cancelled", "the transaction was cancelled"),
    "reversed": CodeMeaning("failed", "the transaction was reversed"),
    "pending": CodeMeaning("pending", "still being processed"),
}


def _status_meaning(env: _ResultEnvelope) -> CodeMeaning:
    if env.code != 0:
        # The query failed, which says nothing certain about the transaction queried.
        return CodeMeaning("unknown", f"status query failed: {outcome_for(env.code).reason}")
    status = _optional_text(env.params, "TransactionStatus")
    if status is None:
        return CodeMeaning("unknown", "status answer without a TransactionStatus")
    return _TRANSACTION_STATUS.get(status.lower(), CodeMeaning("unknown", f"status {status}"))


def _first_param(params: Mapping[str, Any], *keys: str) -> Any:
    return next((params[k] for k in keys if params.get(k) is not None), None)


def parse_status_result(body: object) -> CallbackEvent:
    """Parse a Transaction Status result posted to /status/result."""
    env = _result_envelope(body, "status result")
    party = _first_param(env.params, "CreditPartyName", "DebitPartyName")
    queried = _first_param(env.params, "OriginatorConversationID", "Originator Conversation ID")
    return _result_event(
        "status_result", env, _status_meaning(env), body,
        amount=_amount_or_none(env.params, "Amount", env.where),
        receipt=_optional_text(env.params, "ReceiptNo"),
        phone=phone_or_none(party),
        occurred_at=_time_or_none(env.params, "FinalisedTime", env.where),
        queried_id=None if queried is None else str(queried),
    )


def parse_reversal_result(body: object) -> CallbackEvent:
    """Parse a reversal result posted to /reversal/result."""
    env = _result_envelope(body, "reversal result")
    meaning = outcome_for(env.code)
    return _result_event(
        "reversal_result", env, meaning, body,
        amount=_amount_or_none(env.params, "Amount", env.where),
        receipt=_optional_text(env.result, "TransactionID") if meaning.outcome == "success"
        else None,
        phone=phone_or_none(env.params.get("CreditPartyPublicName")),
        occurred_at=_time_or_none(env.params, "TransCompletedTime", env.where),
        original_receipt=_optional_text(env.params, "OriginalTransactionID"),
    )


# --- synchronous answers -----------------------------------------------------------------


def ensure_accepted(body: Mapping[str, Any], where: str) -> None:
    """Raise PermanentError unless a synchronous answer's ResponseCode is 0."""
    code = _text(body, "ResponseCode", where)
    if normalize_result_code(code) != 0:
        description = _optional_text(body, "ResponseDescription") or "no description"
        raise PermanentError(f"{where}: Daraja refused the request: {code} {description}")


def parse_stk_push_answer(body: object) -> PaymentRequested:
    """Read Daraja's synchronous answer to an STK push."""
    answer = _mapping(body, "STK push answer")
    ensure_accepted(answer, "STK push answer")
    return PaymentRequested(
        checkout_request_id=_text(answer, "CheckoutRequestID", "STK push answer"),
        merchant_request_id=_text(answer, "MerchantRequestID", "STK push answer"),
        customer_message=_optional_text(answer, "CustomerMessage") or "",
        raw=dict(answer),
    )


def parse_stk_query_answer(body: object) -> StatusAnswer:
    """Read Daraja's synchronous answer to an STK query (its ResultCode is a string)."""
    answer = _mapping(body, "STK query answer")
    ensure_accepted(answer, "STK query answer")
    code = _result_code(answer, "STK query answer") if "ResultCode" in answer else None
    meaning = outcome_for(code) if code is not None else CodeMeaning("pending", "no result yet")
    return StatusAnswer(
        subject_id=_text(answer, "CheckoutRequestID", "STK query answer"),
        outcome=meaning.outcome,
        result_code=code,
        description=_optional_text(answer, "ResultDesc") or "",
        reason=meaning.reason,
        raw=dict(answer),
    )


def parse_c2b_register_answer(body: object) -> C2BRegistered:
    """Read Daraja's answer to a C2B URL registration."""
    answer = _mapping(body, "C2B URL registration answer")
    ensure_accepted(answer, "C2B URL registration answer")
    return C2BRegistered(_optional_text(answer, "ResponseDescription") or "", dict(answer))


def parse_async_answer(body: object, where: str) -> tuple[str, str, str]:
    """Read an async request's acceptance: (OriginatorConversationID, ConversationID, text)."""
    answer = _mapping(body, where)
    ensure_accepted(answer, where)
    return (
        _text(answer, "OriginatorConversationID", where),
        _text(answer, "ConversationID", where),
        _optional_text(answer, "ResponseDescription") or "",
    )


CALLBACK_PARSERS: dict[EventKind, Callable[[object], CallbackEvent]] = {
    "stk": parse_stk_callback,
    "c2b_confirmation": lambda body: parse_c2b(body, "c2b_confirmation"),
    "c2b_validation": lambda body: parse_c2b(body, "c2b_validation"),
    "b2c_result": parse_b2c_result,
    "b2c_timeout": parse_b2c_timeout,
    "status_result": parse_status_result,
    "status_timeout": lambda body: parse_timeout(body, "status_timeout"),
    "reversal_result": parse_reversal_result,
    "reversal_timeout": lambda body: parse_timeout(body, "reversal_timeout"),
}


def parse_callback(kind: EventKind, body: object) -> CallbackEvent:
    """Parse a callback by the kind its URL names (the table the callback views route by)."""
    parser = CALLBACK_PARSERS.get(kind)
    if parser is None:
        raise ValueError(f"unknown callback kind: {kind!r}")
    return parser(body)

