"""Delivering callbacks: the rq jobs that POST what the simulated M-Pesa decided."""

from __future__ import annotations

import httpx

from core import runtime
from core.clock import get_clock
from core.settings import Settings
from payments.models import SimMpesaTransaction
from payments.providers.simulator.behaviour import BEHAVIOUR_FIELDS, Behaviour
from payments.providers.simulator.payloads import c2b_payload, callback_for
from payments.providers.simulator.records import (
    C2B,
    COMPLETED,
    FAILED,
    PROMPTED,
    SimRecord,
    record_scope,
)
from payments.providers.simulator.transport import CallbackRefused, post_callback


def deliver(sim_id: int) -> str:
    """Post the callback(s) for one simulated transaction to Mkopo (an rq job)."""
    settings = runtime.current().settings
    with runtime.current().db.transaction() as session:
        row = session.get(SimMpesaTransaction, sim_id)
        if row is None:
            return "missing"
        record = SimRecord.of(row)
    behaviour = Behaviour(**{k: v for k, v in record.behaviour.items() if k in BEHAVIOUR_FIELDS})
    if record.kind == C2B:
        return _deliver_c2b(settings, record, behaviour)
    deliver_record(settings, record, copies=1 + behaviour.duplicates)
    return "delivered"


def deliver_record(settings: Settings, record: SimRecord, *, copies: int,
                    timeout: float = 10.0) -> None:
    path, payload = callback_for(record)
    for _ in range(copies):
        post_callback(settings, path, payload, timeout=timeout)
    _count_callbacks(record.id, copies)


def _count_callbacks(sim_id: int, copies: int) -> None:
    with record_scope() as session:
        row = session.get(SimMpesaTransaction, sim_id)
        if row is not None:
            row.callbacks_sent += copies


def _deliver_c2b(settings: Settings, record: SimRecord, behaviour: Behaviour) -> str:
    """Validation first; a rejection stops the payment, anything else completes it."""
    if record.status == PROMPTED:
        try:
            answer = post_callback(settings, "c2b/validation", c2b_payload(record, validation=True))
            accepted = str(answer.get("ResultCode", "0")) == "0"
        except (httpx.HTTPError, CallbackRefused, ValueError):
            # Registered with ResponseType "Completed": no answer means the payment goes through.
            accepted = True
        record = _finish_c2b(record.id, accepted)
    if record.status != COMPLETED:
        return "rejected"
    if not behaviour.no_callback:
        deliver_record(settings, record, copies=1 + behaviour.duplicates)
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
