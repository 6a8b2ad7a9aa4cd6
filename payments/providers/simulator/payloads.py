"""Daraja-format callback bodies built from a simulated transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import runtime
from core.phones import msisdn
from payments.models import SimMpesaTransaction
from payments.providers.base import NAIROBI
from payments.providers.simulator.records import (
    B2C,
    B2C_RESULTS,
    C2B,
    COMPLETED,
    FAILED,
    NOT_FOUND,
    PROMPTED,
    REVERSAL,
    SHORTCODE_NAME,
    STK,
    STK_RESULTS,
    SimRecord,
    random_token,
)


def _daraja_time(record: SimRecord) -> int:
    when = record.completed_at or record.created_at
    return int(when.astimezone(NAIROBI).strftime("%Y%m%d%H%M%S"))


def _shillings(amount: int) -> float:
    return float(amount // 100)


def callback_for(record: SimRecord) -> tuple[str, dict[str, Any]]:
    if record.kind == STK:
        return "stk", stk_payload(record)
    if record.kind == B2C:
        timed_out = record.behaviour.get("timeout", False)
        return ("b2c/timeout", b2c_timeout_payload(record)) if timed_out else (
            "b2c/result", b2c_payload(record))
    if record.kind == C2B:
        return "c2b/confirmation", c2b_payload(record, validation=False)
    if record.kind == REVERSAL:
        return "reversal/result", reversal_payload(record)
    return "status/result", status_payload(record)


def stk_payload(record: SimRecord) -> dict[str, Any]:
    """`Body.stkCallback` as fixtures/daraja_stk_callback_*.json."""
    code, text = STK_RESULTS[record.outcome]
    callback: dict[str, Any] = {
        "MerchantRequestID": record.merchant_request_id,
        "CheckoutRequestID": record.external_id,
        "ResultCode": code,
        "ResultDesc": text,
    }
    if code == 0:
        callback["CallbackMetadata"] = {"Item": [
            {"Name": "Amount", "Value": _shillings(record.amount)},
            {"Name": "MpesaReceiptNumber", "Value": record.receipt},
            {"Name": "Balance"},
            {"Name": "TransactionDate", "Value": _daraja_time(record)},
            {"Name": "PhoneNumber", "Value": int(msisdn(record.phone))},
        ]}
    return {"Body": {"stkCallback": callback}}


def _public_name(phone: str) -> str:
    return f"{msisdn(phone)} - SIMULATED CUSTOMER" if phone else ""


def b2c_payload(record: SimRecord) -> dict[str, Any]:
    """`Result` as fixtures/daraja_b2c_result_*.json."""
    code, text = B2C_RESULTS[record.outcome]
    result: dict[str, Any] = {
        "ResultType": 0, "ResultCode": code, "ResultDesc": text,
        "OriginatorConversationID": record.external_id,
        "ConversationID": record.conversation_id,
        "TransactionID": record.receipt or "TKT0000000",
    }
    if code == 0:
        when = (record.completed_at or record.created_at).astimezone(NAIROBI)
        result["ResultParameters"] = {"ResultParameter": [
            {"Key": "TransactionAmount", "Value": record.amount // 100},
            {"Key": "TransactionReceipt", "Value": record.receipt},
            {"Key": "ReceiverPartyPublicName", "Value": _public_name(record.phone)},
            {"Key": "TransactionCompletedDateTime", "Value": when.strftime("%d.%m.%Y %H:%M:%S")},
            {"Key": "B2CUtilityAccountAvailableFunds", "Value": 1250000.0},
            {"Key": "B2CWorkingAccountAvailableFunds", "Value": 400000.0},
            {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
            {"Key": "B2CChargesPaidAccountAvailableFunds", "Value": -220.0},
        ]}
    result["ReferenceData"] = {"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": ""}}
    return {"Result": result}


def b2c_timeout_payload(record: SimRecord) -> dict[str, Any]:
    """A B2C queue timeout as fixtures/daraja_b2c_timeout.json."""
    return {"Result": {
        "ResultType": 1, "ResultCode": 1, "ResultDesc": "The service request timed out.",
        "OriginatorConversationID": record.external_id,
        "ConversationID": record.conversation_id, "TransactionID": "TKT0000000",
    }}


def _masked_msisdn(phone: str) -> str:
    # Safaricom masks the payer's number in C2B callbacks (see the C2B fixtures).
    digits = msisdn(phone)
    return f"{digits[:5]}****{digits[-3:]}"


def c2b_payload(record: SimRecord, *, validation: bool) -> dict[str, Any]:
    """A C2B validation or confirmation as fixtures/daraja_c2b_*.json."""
    return {
        "TransactionType": "Pay Bill",
        "TransID": record.external_id,
        "TransTime": str(_daraja_time(record)),
        "TransAmount": f"{record.amount // 100}.{record.amount % 100:02d}",
        "BusinessShortCode": runtime.current().settings.paybill_number,
        "BillRefNumber": record.account_reference or "",
        "InvoiceNumber": "",
        "OrgAccountBalance": "" if validation else "184230.00",
        "ThirdPartyTransID": "",
        "MSISDN": _masked_msisdn(record.phone),
        "FirstName": "Simulated",
        "MiddleName": "",
        "LastName": "",
    }


def reversal_payload(record: SimRecord) -> dict[str, Any]:
    """A reversal result as fixtures/daraja_reversal_result.json."""
    ok = record.status == COMPLETED
    result: dict[str, Any] = {
        "ResultType": 0, "ResultCode": 0 if ok else NOT_FOUND[0],
        "ResultDesc": "The service request is processed successfully." if ok else NOT_FOUND[1],
        "OriginatorConversationID": record.external_id,
        "ConversationID": record.conversation_id,
        "TransactionID": record.receipt or "TKU0000000",
    }
    if ok:
        result["ResultParameters"] = {"ResultParameter": [
            {"Key": "DebitAccountBalance", "Value": "Utility Account|KES|0.00|0.00|0.00|0.00"},
            {"Key": "Amount", "Value": _shillings(record.amount)},
            {"Key": "TransCompletedTime", "Value": _daraja_time(record)},
            {"Key": "OriginalTransactionID", "Value": record.original_receipt},
            {"Key": "Charge", "Value": 0.0},
            {"Key": "CreditPartyPublicName", "Value": _public_name(record.phone)},
            {"Key": "DebitPartyPublicName", "Value": SHORTCODE_NAME},
        ]}
    return {"Result": result}


def status_payload(record: SimRecord) -> dict[str, Any]:
    """A Transaction Status result (Daraja's documented shape) for the transaction queried."""
    target = _status_target(record)
    base = {"ResultType": 0, "OriginatorConversationID": record.external_id,
            "ConversationID": record.conversation_id, "TransactionID": random_token(10)}
    if target is None:
        return {"Result": {**base, "ResultCode": NOT_FOUND[0], "ResultDesc": NOT_FOUND[1]}}
    status = {COMPLETED: "Completed", FAILED: "Failed", PROMPTED: "Pending"}[target.status]
    credit, debit = (_public_name(target.phone), SHORTCODE_NAME)
    if target.kind in (STK, C2B):
        credit, debit = debit, credit
    params = [
        {"Key": "DebitPartyName", "Value": debit},
        {"Key": "CreditPartyName", "Value": credit},
        {"Key": "OriginatorConversationID", "Value": target.external_id},
        {"Key": "InitiatedTime", "Value": int(target.created_at.astimezone(NAIROBI)
                                              .strftime("%Y%m%d%H%M%S"))},
        {"Key": "DebitAccountType", "Value": "Utility Account"},
        {"Key": "DebitPartyCharges", "Value": ""},
        {"Key": "TransactionReason", "Value": ""},
        {"Key": "ReasonType", "Value": "Business Payment to Individual"},
        {"Key": "TransactionStatus", "Value": status},
        {"Key": "FinalisedTime", "Value": _daraja_time(target)},
        {"Key": "Amount", "Value": _shillings(target.amount)},
        {"Key": "ConversationID", "Value": target.conversation_id or ""},
        {"Key": "ReceiptNo", "Value": target.receipt or ""},
    ]
    return {"Result": {**base, "ResultCode": 0,
                       "ResultDesc": "The service request is processed successfully.",
                       "ResultParameters": {"ResultParameter": params},
                       "ReferenceData": {"ReferenceItem": {"Key": "Occasion"}}}}


def _status_target(query: SimRecord) -> SimRecord | None:
    """The transaction a status query asked about: by originator id (in account_reference)."""
    with runtime.current().db.transaction() as session:
        condition = (SimMpesaTransaction.external_id == query.account_reference
                     if query.account_reference
                     else SimMpesaTransaction.receipt == query.original_receipt)
        row = session.scalar(select(SimMpesaTransaction).where(
            condition, SimMpesaTransaction.kind.in_((STK, B2C, C2B, REVERSAL))))
        return None if row is None else SimRecord.of(row)
