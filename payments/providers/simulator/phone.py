"""The phone simulator's side: STK prompts a person answers, and paybill payments."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import select

from core import runtime
from core.clock import Clock, get_clock
from core.jobs import enqueue_quietly
from payments.models import SimMpesaTransaction
from payments.providers.daraja import whole_shillings
from payments.providers.simulator.behaviour import BEHAVIOUR_FIELDS, Behaviour, behaviour_for
from payments.providers.simulator.delivery import deliver
from payments.providers.simulator.records import (
    C2B,
    PROMPTED,
    QUEUE,
    STK,
    SimRecord,
    new_receipt,
    record_transaction,
    settle_values,
)


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
    if not (str(prompt_id).isascii() and str(prompt_id).isdigit()):
        return None
    with runtime.current().db.transaction() as session:
        row = session.get(SimMpesaTransaction, int(prompt_id), with_for_update=True)
        if row is None or row.kind != STK or row.status != PROMPTED:
            return None
        behaviour = Behaviour(**{k: v for k, v in row.behaviour.items()
                                 if k in BEHAVIOUR_FIELDS})
        if pin is None:
            outcome = "cancelled"
        elif pin != behaviour.pin:
            outcome = "wrong_pin"
        else:
            outcome = behaviour.outcome
        for name, value in settle_values(STK, outcome, clock).items():
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
    record, _ = record_transaction(
        clock, kind=C2B, idempotency_key=trans_id, external_id=trans_id, phone=phone,
        amount=amount, account_reference=bill_ref[:40], outcome="pending", status=PROMPTED,
        receipt=trans_id, behaviour=asdict(behaviour),
    )
    enqueue_quietly(deliver, record.id, queue=QUEUE)
    return trans_id
