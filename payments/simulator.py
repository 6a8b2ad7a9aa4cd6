"""A simulated M-Pesa: the default provider in development and tests.

It implements the MobileMoneyProvider Protocol like Daraja does: requests are
validated the same way (whole shillings, Kenyan numbers), answered at once with
Daraja's identifiers, and their outcome arrives later as a Daraja-format
callback POSTed over HTTP (httpx) to Mkopo's real `/mpesa/<token>/…` URLs by an
rq job. Its own table, `sim_mpesa_transactions`, records what "M-Pesa" did, so
tests can check the ledger against an independent account of the money.

Outcomes and faults are set per phone or globally, and kept in Redis so every
process (web, worker, tests) sees the same script:

    set_behaviour("+254711000101", outcome="cancelled")
    set_behaviour(None, duplicates=2, delay=5)

`outcome`: success | cancelled (1032) | wrong_pin (2001) | insufficient_funds (1) |
unreachable (1037). Faults: `no_callback` (the money moves, no callback comes:
only a status query tells), `duplicates` (extra copies of each callback),
`out_of_order` (the result is POSTed before the push answer is returned, so
before Mkopo has stored the CheckoutRequestID), `delay` (seconds before the
callback; needs a worker running rq's scheduler), `timeout` (B2C: a queue
timeout instead of the result, the money having moved), `prompt` (STK prompts
wait for `answer_prompt`, the phone simulator page), `api_down` (requests are
refused as if Daraja were unreachable).

The correct M-Pesa PIN of a simulated phone is `pin` (default 1234).
"""

from __future__ import annotations

import json
import logging
import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import runtime
from core.clock import Clock, get_clock
from core.jobs import default_retry, enqueue_quietly, get_queue
from core.phones import mask_phone, msisdn
from core.settings import Settings
from payments.factory import calling_session
from payments.models import SimMpesaTransaction
from payments.providers import (
    NAIROBI,
    C2BRegistered,
    DisbursementRequested,
    PaymentRequested,
    ReversalRequested,
    StatusAnswer,
    outcome_for,
)
from payments.providers.daraja import mpesa_msisdn, whole_shillings
from payments.transient import NotSent

logger = logging.getLogger(__name__)

STK, B2C, C2B, REVERSAL, STATUS = "stk", "b2c", "c2b", "reversal", "status"
PROMPTED, COMPLETED, FAILED = "prompted", "completed", "failed"
QUEUE = "default"
BEHAVIOUR_KEY = "mkopo:sim:mpesa:behaviour:"
SHORTCODE_NAME = "600000 - Mkopo"

# Per outcome: (STK result code, description); B2C uses its own table below.
STK_RESULTS: dict[str, tuple[int, str]] = {
    "success": (0, "The service request is processed successfully."),
    "cancelled": (1032, "Request cancelled by user"),
    "wrong_pin": (2001, "The initiator information is invalid."),
    "insufficient_funds": (1, "The balance is insufficient for the transaction."),
    "unreachable": (1037, "DS timeout user cannot be reached"),
}
B2C_RESULTS: dict[str, tuple[int, str]] = {
    "success": (0, "The service request is processed successfully."),
    "insufficient_funds": (1, "The balance is insufficient for the transaction."),
    "wrong_pin": (2001, "The initiator information is invalid."),
    "unreachable": (2040, "Credit Party customer type (Unregistered or Registered Customer) "
                          "can't be supported by the service."),
    "cancelled": (2040, "Credit Party customer type (Unregistered or Registered Customer) "
                        "can't be supported by the service."),
}
NOT_FOUND = ("R000001", "The transaction could not be found.")


# --- behaviour -------------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """How the simulated M-Pesa treats requests for a phone."""

    outcome: str = "success"
    no_callback: bool = False
    duplicates: int = 0
    out_of_order: bool = False
    delay: float = 0.0
    timeout: bool = False
    prompt: bool = False
    api_down: bool = False
    pin: str = "1234"


_BEHAVIOUR_FIELDS = {f.name for f in fields(Behaviour)}


def _behaviour_key(phone: str | None) -> str:
    return BEHAVIOUR_KEY + (phone or "*")


def set_behaviour(phone: str | None, **changes: Any) -> Behaviour:
    """Script the simulator for one phone (E.164), or for every phone when `phone` is None."""
    unknown = set(changes) - _BEHAVIOUR_FIELDS
    if unknown:
        raise ValueError(f"unknown simulator behaviour {sorted(unknown)}")
    if "outcome" in changes and changes["outcome"] not in STK_RESULTS:
        raise ValueError(f"outcome must be one of {sorted(STK_RESULTS)}")
    redis = runtime.current().redis
    current = json.loads(redis.get(_behaviour_key(phone)) or "{}")
    current.update(changes)
    redis.set(_behaviour_key(phone), json.dumps(current))
    return behaviour_for(phone)


def clear_behaviours() -> None:
    """Forget every script: all phones behave normally again."""
    redis = runtime.current().redis
    for key in redis.scan_iter(match=BEHAVIOUR_KEY + "*"):
        redis.delete(key)


def behaviour_for(phone: str | None) -> Behaviour:
    """The global script overlaid with the phone's own."""
    redis = runtime.current().redis
    merged: dict[str, Any] = json.loads(redis.get(_behaviour_key(None)) or "{}")
    if phone:
        merged.update(json.loads(redis.get(_behaviour_key(phone)) or "{}"))
    return Behaviour(**{k: v for k, v in merged.items() if k in _BEHAVIOUR_FIELDS})


# --- the callback transport ------------------------------------------------------------

_transport: httpx.BaseTransport | None = None


@contextmanager
def using_transport(transport: httpx.BaseTransport | None) -> Iterator[None]:
    """Post callbacks through `transport` (tests: `httpx.WSGITransport(app=app)`)."""
    global _transport
    previous, _transport = _transport, transport
    try:
        yield
    finally:
        _transport = previous


class CallbackRefused(Exception):
    """Mkopo did not acknowledge a callback; rq retries the delivery job."""


def _post(settings: Settings, path: str, payload: dict[str, Any], timeout: float = 10.0) -> Any:
    url = f"{settings.public_base_url.rstrip('/')}/mpesa/{settings.callback_token}/{path}"
    with httpx.Client(transport=_transport, timeout=timeout) as client:
        response = client.post(url, json=payload)
    if response.status_code != 200:
        raise CallbackRefused(f"{path}: HTTP {response.status_code}")
    return response.json()


# --- the simulator's own record ----------------------------------------------------------


@contextmanager
def _record_scope() -> Iterator[Session]:
    """A unit of work for the simulator's table.

    Normally its own transaction: what M-Pesa did does not roll back with Mkopo.
    SQLite has a single writer, and the caller (an outbox handler) holds the write
    lock while it calls the provider, so there the caller's session is used instead.
    """
    caller = calling_session.get()
    if caller is not None and caller.get_bind().dialect.name == "sqlite":
        with caller.begin_nested():
            yield caller
        return
    with runtime.current().db.transaction() as session:
        yield session


def _token(length: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_receipt() -> str:
    """An M-Pesa-like receipt number: ten characters, letters and digits."""
    return "S" + _token(9)


@dataclass(frozen=True)
class SimRecord:
    """A detached copy of one simulated transaction, safe to use outside its session."""

    id: int
    kind: str
    idempotency_key: str
    external_id: str
    conversation_id: str | None
    merchant_request_id: str | None
    phone: str
    amount: int
    account_reference: str | None
    outcome: str
    result_code: str | None
    receipt: str | None
    original_receipt: str | None
    status: str
    behaviour: dict[str, Any]
    created_at: Any
    completed_at: Any

    @classmethod
    def of(cls, row: SimMpesaTransaction) -> SimRecord:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def _record(clock: Clock, **values: Any) -> tuple[SimRecord, bool]:
    """Insert a simulated transaction once per (kind, idempotency key); return it and is-new."""
    with _record_scope() as session:
        existing = _find(session, values["kind"], values["idempotency_key"])
        if existing is not None:
            return SimRecord.of(existing), False
        row = SimMpesaTransaction(created_at=clock.now(), callbacks_sent=0, **values)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            again = _find(session, values["kind"], values["idempotency_key"])
            if again is None:
                raise
            return SimRecord.of(again), False
        return SimRecord.of(row), True


def _find(session: Session, kind: str, key: str) -> SimMpesaTransaction | None:
    return session.scalar(select(SimMpesaTransaction).where(
        SimMpesaTransaction.kind == kind, SimMpesaTransaction.idempotency_key == key))


def _settle_values(kind: str, outcome: str, clock: Clock) -> dict[str, Any]:
    """The status, code and receipt a transaction gets once its outcome is known."""
    code, _ = (STK_RESULTS if kind == STK else B2C_RESULTS)[outcome]
    success = code == 0
    return {"outcome": outcome, "result_code": str(code),
            "status": COMPLETED if success else FAILED,
            "receipt": new_receipt() if success else None,
            "completed_at": clock.now()}


# --- the provider ------------------------------------------------------------------------


class SimulatorProvider:
    """M-Pesa as the simulator plays it, behind the MobileMoneyProvider interface."""

    name = "simulator"

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self._settings = settings
        self._clock = clock

    @property
    def clock(self) -> Clock:
        return self._clock or get_clock()

    def request_payment(
        self, *, phone: str, amount: int, reference: str, description: str, idempotency_key: str
    ) -> PaymentRequested:
        """Record an STK push and schedule its result callback (or leave the prompt open)."""
        mpesa_msisdn(phone)
        whole_shillings(amount)
        behaviour = self._available(phone)
        outcome = {} if behaviour.prompt else _settle_values(STK, behaviour.outcome, self.clock)
        record, new = _record(
            self.clock, kind=STK, idempotency_key=idempotency_key,
            external_id=f"ws_CO_{self._stamp()}{_token(12, string.digits)}",
            merchant_request_id=f"sim-{_token(8).lower()}-{_token(4, string.digits)}",
            phone=phone, amount=amount, account_reference=reference[:40],
            behaviour=asdict(behaviour), **(outcome or {"outcome": "pending", "status": PROMPTED}),
        )
        if new and record.status != PROMPTED:
            self._schedule(record, behaviour)
        logger.info("simulator: STK push %s to %s as %s", idempotency_key, mask_phone(phone),
                    record.external_id)
        return PaymentRequested(record.external_id, record.merchant_request_id or "",
                                "Success. Request accepted for processing")

    def disburse(
        self, *, phone: str, amount: int, reference: str, idempotency_key: str
    ) -> DisbursementRequested:
        """Record a B2C payment (the money leaves at once) and schedule its result callback."""
        mpesa_msisdn(phone)
        whole_shillings(amount)
        behaviour = self._available(phone)
        record, new = _record(
            self.clock, kind=B2C, idempotency_key=idempotency_key, external_id=idempotency_key,
            conversation_id=self._conversation_id(), phone=phone, amount=amount,
            account_reference=reference[:40], behaviour=asdict(behaviour),
            **_settle_values(B2C, behaviour.outcome, self.clock),
        )
        if new:
            self._schedule(record, behaviour)
        logger.info("simulator: B2C %s to %s", idempotency_key, mask_phone(phone))
        return DisbursementRequested(idempotency_key, record.conversation_id or "",
                                     "Accept the service request successfully.")

    def query_status(
        self,
        *,
        checkout_request_id: str | None = None,
        receipt: str | None = None,
        originator_conversation_id: str | None = None,
        shortcode: str | None = None,
    ) -> StatusAnswer:
        """Answer an STK query at once; a Transaction Status query by callback, like Daraja."""
        self._available(None)
        if checkout_request_id is not None:
            return self._query_stk(checkout_request_id)
        originator = f"sim-status-{_token(10).lower()}"
        record, _ = _record(
            self.clock, kind=STATUS, idempotency_key=originator, external_id=originator,
            conversation_id=self._conversation_id(), phone="", amount=0,
            account_reference=originator_conversation_id, original_receipt=receipt,
            outcome="success", status=COMPLETED, behaviour={},
        )
        enqueue_quietly(deliver, record.id, queue=QUEUE)
        return StatusAnswer(
            subject_id=receipt or originator_conversation_id or "", outcome="pending",
            result_code=None, description="Accept the service request successfully.",
            reason="the answer follows at status/result", conversation_id=record.conversation_id,
            originator_conversation_id=originator,
        )

    def reverse(
        self, *, receipt: str, amount: int, reason: str, idempotency_key: str
    ) -> ReversalRequested:
        """Reverse a completed payment into our paybill, if there is one of at least `amount`."""
        whole_shillings(amount)
        self._available(None)
        with _record_scope() as session:
            original = session.scalar(select(SimMpesaTransaction).where(
                SimMpesaTransaction.receipt == receipt,
                SimMpesaTransaction.kind.in_((STK, C2B)),
                SimMpesaTransaction.status == COMPLETED))
            phone = original.phone if original is not None else ""
            ok = original is not None and amount <= original.amount
        record, new = _record(
            self.clock, kind=REVERSAL, idempotency_key=idempotency_key,
            external_id=idempotency_key, conversation_id=self._conversation_id(), phone=phone,
            amount=amount, original_receipt=receipt, behaviour={},
            outcome="success" if ok else "not_found",
            result_code="0" if ok else NOT_FOUND[0], status=COMPLETED if ok else FAILED,
            receipt=new_receipt() if ok else None, completed_at=self.clock.now(),
        )
        if new:
            enqueue_quietly(deliver, record.id, queue=QUEUE)
        return ReversalRequested(idempotency_key, record.conversation_id or "",
                                 "Accept the service request successfully.")

    def register_c2b_urls(self) -> C2BRegistered:
        """Nothing to register: the simulator always knows Mkopo's URLs."""
        return C2BRegistered("Success (simulator)")

    # --- helpers ---------------------------------------------------------------------------

    def _available(self, phone: str | None) -> Behaviour:
        behaviour = behaviour_for(phone)
        if behaviour.api_down:
            raise NotSent("simulator: M-Pesa API unreachable (api_down fault)")
        return behaviour

    def _stamp(self) -> str:
        return self.clock.now().astimezone(NAIROBI).strftime("%d%m%Y%H%M%S")

    def _conversation_id(self) -> str:
        return f"AG_{self.clock.now().strftime('%Y%m%d')}_sim{_token(16, '0123456789abcdef')}"

    def _query_stk(self, checkout_request_id: str) -> StatusAnswer:
        with _record_scope() as session:
            row = session.scalar(select(SimMpesaTransaction).where(
                SimMpesaTransaction.kind == STK,
                SimMpesaTransaction.external_id == checkout_request_id))
            record = None if row is None else SimRecord.of(row)
        if record is None:
            return StatusAnswer(checkout_request_id, "unknown", None, NOT_FOUND[1],
                                "no such checkout request")
        if record.status == PROMPTED:
            meaning = outcome_for("500.001.1001")
            return StatusAnswer(checkout_request_id, meaning.outcome, "500.001.1001",
                                "The transaction is being processed", meaning.reason)
        code, text = STK_RESULTS[record.outcome]
        meaning = outcome_for(code)
        return StatusAnswer(checkout_request_id, meaning.outcome, str(code), text,
                            meaning.reason)

    def _schedule(self, record: SimRecord, behaviour: Behaviour) -> None:
        """Deliver the callback now (out of order), later (delay), or not at all."""
        if behaviour.no_callback:
            return
        if behaviour.out_of_order:
            try:
                _deliver_record(self._settings, record, copies=1 + behaviour.duplicates,
                                timeout=3.0)
                return
            except (httpx.HTTPError, CallbackRefused):
                logger.warning("simulator: out-of-order delivery failed; queueing it instead")
        if behaviour.delay > 0:
            get_queue(QUEUE).enqueue_in(timedelta(seconds=behaviour.delay), deliver, record.id,
                                        retry=default_retry())
            return
        enqueue_quietly(deliver, record.id, queue=QUEUE)


# --- the phone simulator's side: prompts and paybill payments -----------------------------


@dataclass(frozen=True)
class Prompt:
    """An STK prompt waiting on a simulated phone for its PIN."""

    id: int
    phone: str
    amount: int
    reference: str
    checkout_request_id: str
    business: str = "Mkopo"


def pending_prompts(phone: str) -> list[Prompt]:
    """The STK prompts showing on `phone`, oldest first."""
    with runtime.current().db.transaction() as session:
        rows = session.scalars(select(SimMpesaTransaction).where(
            SimMpesaTransaction.kind == STK, SimMpesaTransaction.phone == phone,
            SimMpesaTransaction.status == PROMPTED).order_by(SimMpesaTransaction.id))
        return [Prompt(r.id, r.phone, r.amount, r.account_reference or "", r.external_id)
                for r in rows]


def answer_prompt(prompt_id: int | str, pin: str | None, *,
                  clock: Clock | None = None) -> str | None:
    """Answer a prompt with a PIN (None cancels); post the result; None if no such prompt."""
    clock = clock or get_clock()
    if not str(prompt_id).isdigit():
        return None
    with runtime.current().db.transaction() as session:
        row = session.get(SimMpesaTransaction, int(prompt_id), with_for_update=True)
        if row is None or row.kind != STK or row.status != PROMPTED:
            return None
        behaviour = Behaviour(**{k: v for k, v in row.behaviour.items()
                                 if k in _BEHAVIOUR_FIELDS})
        if pin is None:
            outcome = "cancelled"
        elif pin != behaviour.pin:
            outcome = "wrong_pin"
        else:
            outcome = behaviour.outcome
        for name, value in _settle_values(STK, outcome, clock).items():
            setattr(row, name, value)
        record = SimRecord.of(row)
    if not behaviour.no_callback:
        enqueue_quietly(deliver, record.id, queue=QUEUE)
    return outcome


def simulate_paybill_payment(phone: str, amount: int, bill_ref: str) -> str:
    """A customer pays our paybill from `phone`: returns the TransID; callbacks follow by job."""
    whole_shillings(amount)
    clock = get_clock()
    trans_id = new_receipt()
    behaviour = behaviour_for(phone)
    record, _ = _record(
        clock, kind=C2B, idempotency_key=trans_id, external_id=trans_id, phone=phone,
        amount=amount, account_reference=bill_ref[:40], outcome="pending", status=PROMPTED,
        receipt=trans_id, behaviour=asdict(behaviour),
    )
    enqueue_quietly(deliver, record.id, queue=QUEUE)
    return trans_id


# --- delivery (rq jobs) ------------------------------------------------------------------


def deliver(sim_id: int) -> str:
    """Post the callback(s) for one simulated transaction to Mkopo (an rq job)."""
    settings = runtime.current().settings
    with runtime.current().db.transaction() as session:
        row = session.get(SimMpesaTransaction, sim_id)
        if row is None:
            return "missing"
        record = SimRecord.of(row)
    behaviour = Behaviour(**{k: v for k, v in record.behaviour.items() if k in _BEHAVIOUR_FIELDS})
    if record.kind == C2B:
        return _deliver_c2b(settings, record, behaviour)
    _deliver_record(settings, record, copies=1 + behaviour.duplicates)
    return "delivered"


def _deliver_record(settings: Settings, record: SimRecord, *, copies: int,
                    timeout: float = 10.0) -> None:
    path, payload = _callback_for(record)
    for _ in range(copies):
        _post(settings, path, payload, timeout=timeout)
    _count_callbacks(record.id, copies)


def _count_callbacks(sim_id: int, copies: int) -> None:
    with _record_scope() as session:
        row = session.get(SimMpesaTransaction, sim_id)
        if row is not None:
            row.callbacks_sent += copies


def _deliver_c2b(settings: Settings, record: SimRecord, behaviour: Behaviour) -> str:
    """Validation first; a rejection stops the payment, anything else completes it."""
    if record.status == PROMPTED:
        try:
            answer = _post(settings, "c2b/validation", c2b_payload(record, validation=True))
            accepted = str(answer.get("ResultCode", "0")) == "0"
        except (httpx.HTTPError, CallbackRefused, ValueError):
            # Registered with ResponseType "Completed": no answer means the payment goes through.
            accepted = True
        record = _finish_c2b(record.id, accepted)
    if record.status != COMPLETED:
        return "rejected"
    if not behaviour.no_callback:
        _deliver_record(settings, record, copies=1 + behaviour.duplicates)
    return "delivered"


def _finish_c2b(sim_id: int, accepted: bool) -> SimRecord:
    with runtime.current().db.transaction() as session:
        row = session.get(SimMpesaTransaction, sim_id, with_for_update=True)
        assert row is not None
        if row.status == PROMPTED:
            row.status = COMPLETED if accepted else FAILED
            row.outcome = "success" if accepted else "rejected"
            row.result_code = "0" if accepted else "C2B00012"
            row.completed_at = get_clock().now()
        return SimRecord.of(row)


# --- Daraja-format payloads --------------------------------------------------------------


def _daraja_time(record: SimRecord) -> int:
    when = record.completed_at or record.created_at
    return int(when.astimezone(NAIROBI).strftime("%Y%m%d%H%M%S"))


def _shillings(amount: int) -> float:
    return float(amount // 100)


def _callback_for(record: SimRecord) -> tuple[str, dict[str, Any]]:
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
            "ConversationID": record.conversation_id, "TransactionID": _token(10)}
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


# --- what tests compare the ledger with --------------------------------------------------


def net_float(session: Session) -> int:
    """Money in minus money out of our M-Pesa accounts, by the simulator's own record."""

    def total(*kinds: str) -> int:
        value = session.scalar(select(func.coalesce(func.sum(SimMpesaTransaction.amount), 0))
                               .where(SimMpesaTransaction.kind.in_(kinds),
                                      SimMpesaTransaction.status == COMPLETED))
        return int(value or 0)

    return total(STK, C2B) - total(B2C, REVERSAL)
