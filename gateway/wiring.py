"""Wire the parts into this process: outbox handlers, intent kinds, ports and SMS commands.

`create_app` and the worker call `wire()` once; nothing registers itself by being
imported, so every handler and port a process knows is listed here, by name.
"""

from __future__ import annotations

from sqlalchemy import MetaData

import core.outbox
import education.models
import gateway.ops_models
import impact.models
import insurance.models
import ledger.models
import lending.models
import menus.models
import messaging.models
import payments.models
import reconciliation.models
import reconciliation.resolutions
import reconciliation.statements
import savings.models
from core import outbox
from core.db import Base
from insurance import wiring as insurance_wiring
from lending import autolend, funding, notifications, settlement, sms_port
from messaging import inbound as sms_inbound
from messaging import outbound as sms_outbound
from messaging import ports as messaging_ports
from payments import outbound as payments_outbound
from payments.intents import B2C, REVERSAL, STK_PUSH
from payments.status import STATUS_QUERY
from savings import sms as savings_sms
from savings import transfers as savings_transfers

OUTBOX_HANDLERS: dict[str, outbox.Handler] = {
    STK_PUSH: payments_outbound.send_stk_push,
    B2C: payments_outbound.send_b2c,
    REVERSAL: payments_outbound.send_reversal,
    STATUS_QUERY: payments_outbound.query_status,
    sms_outbound.SEND_KIND: sms_outbound.send_queued_sms,
    sms_outbound.INBOUND_KIND: sms_inbound.process_inbound_item,
    notifications.REPAYMENT_MESSAGES: notifications.write_repayment_messages,
    funding.DISBURSE_LOAN: settlement.disburse_loan,
    autolend.AUTOLEND_KIND: autolend.run_requested,
}
"""Outbox kind -> the function that carries it out."""

OUTBOX_BATCH_HANDLERS: dict[str, outbox.BatchHandler] = {
    sms_outbound.SEND_KIND: sms_outbound.send_queued_batch,
}
"""Outbox kind -> the function a drain uses to carry out many of its items at once."""

MODEL_MODULES = (
    core.outbox, payments.models, ledger.models, reconciliation.models,
    reconciliation.statements, reconciliation.resolutions, lending.models, messaging.models,
    menus.models, gateway.ops_models, savings.models, insurance.models, impact.models,
    education.models,
)
"""The modules whose tables make up the schema (imported above, so `Base.metadata` is whole)."""


def wire() -> None:
    """Register every outbox handler, intent kind, port and SMS command; safe to call again."""
    for kind, handler in OUTBOX_HANDLERS.items():
        outbox.register(kind, handler, OUTBOX_BATCH_HANDLERS.get(kind))
    settlement.register()
    savings_transfers.install()
    insurance_wiring.install()
    messaging_ports.set_member_lookup(sms_port.LendingMemberLookup())
    savings_sms.install()


def import_handlers() -> None:
    """The older name of `wire`."""
    wire()


def import_models() -> MetaData:
    """The metadata of every table (their modules are imported with this one)."""
    return Base.metadata
