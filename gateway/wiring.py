"""Which modules register outbox handlers and jobs; imported by the web and worker alike."""

from __future__ import annotations

import importlib

HANDLER_MODULES = (
    "payments.outbound",
    "messaging.outbound",
    "lending.sms_port",
    "lending.notifications",
    "lending.autolend",
    "lending.settlement",
    "savings.transfers",
    "savings.sms",
    "insurance.wiring",
)


def import_handlers() -> None:
    """Import every handler module that exists, so `core.outbox.HANDLERS` is complete."""
    for name in HANDLER_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    register_payment_owners()


def register_payment_owners() -> None:
    """Tell payments which domain owns which money (`payments.kinds`)."""
    from lending import settlement

    settlement.register()

MODEL_MODULES = (
    "core.outbox",
    "payments.models",
    "ledger.models",
    "reconciliation.models",
    "reconciliation.statements",
    "reconciliation.resolutions",
    "lending.models",
    "messaging.models",
    "menus.models",
    "gateway.ops_models",
    "savings.models",
    "insurance.models",
    "impact.models",
    "education.models",
)


def import_models() -> None:
    """Import every model module that exists, so `Base.metadata` is complete."""
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
