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

import logging
import string
from dataclasses import asdict
from datetime import timedelta

import httpx
from sqlalchemy import select

from core.clock import Clock, get_clock
from core.jobs import default_retry, enqueue_quietly, get_queue
from core.phones import mask_phone
from core.settings import Settings
from payments.models import SimMpesaTransaction
from payments.providers.base import (
    NAIROBI,
    C2BRegistered,
    DisbursementRequested,
    PaymentRequested,
    ReversalRequested,
    StatusAnswer,
)
from payments.providers.daraja import mpesa_msisdn, whole_shillings
from payments.providers.parsing import outcome_for
from payments.providers.simulator.behaviour import Behaviour, behaviour_for
from payments.providers.simulator.delivery import deliver, deliver_record
from payments.providers.simulator.records import (
    B2C,
    C2B,
    COMPLETED,
    FAILED,
    NOT_FOUND,
    PROMPTED,
    QUEUE,
    REVERSAL,
    STATUS,
    STK,
    STK_RESULTS,
    SimRecord,
    new_receipt,
    random_token,
    record_scope,
    record_transaction,
    settle_values,
)
from payments.providers.simulator.transport import CallbackRefused
from payments.transient import NotSent

logger = logging.getLogger(__name__)


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
        outcome = {} if behaviour.prompt else settle_values(STK, behaviour.outcome, self.clock)
        record, new = record_transaction(
            self.clock, kind=STK, idempotency_key=idempotency_key,
            external_id=f"ws_CO_{self._stamp()}{random_token(12, string.digits)}",
            merchant_request_id=f"sim-{random_token(8).lower()}-{random_token(4, string.digits)}",
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
        record, new = record_transaction(
            self.clock, kind=B2C, idempotency_key=idempotency_key, external_id=idempotency_key,
            conversation_id=self._conversation_id(), phone=phone, amount=amount,
            account_reference=reference[:40], behaviour=asdict(behaviour),
            **settle_values(B2C, behaviour.outcome, self.clock),
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
        originator = f"sim-status-{random_token(10).lower()}"
        record, _ = record_transaction(
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
        with record_scope() as session:
            original = session.scalar(select(SimMpesaTransaction).where(
                SimMpesaTransaction.receipt == receipt,
                SimMpesaTransaction.kind.in_((STK, C2B)),
                SimMpesaTransaction.status == COMPLETED))
            phone = original.phone if original is not None else ""
            ok = original is not None and amount <= original.amount
        record, new = record_transaction(
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
        return f"AG_{self.clock.now().strftime('%Y%m%d')}_sim{random_token(16, '0123456789abcdef')}"

    def _query_stk(self, checkout_request_id: str) -> StatusAnswer:
        with record_scope() as session:
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
                deliver_record(self._settings, record, copies=1 + behaviour.duplicates,
                                timeout=3.0)
                return
            except (httpx.HTTPError, CallbackRefused):
                logger.warning("simulator: out-of-order delivery failed; queueing it instead")
        if behaviour.delay > 0:
            get_queue(QUEUE).enqueue_in(timedelta(seconds=behaviour.delay), deliver, record.id,
                                        retry=default_retry())
            return
        enqueue_quietly(deliver, record.id, queue=QUEUE)
