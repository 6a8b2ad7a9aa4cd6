"""A simulated M-Pesa: the default provider in development and tests.

The modules: `provider` (the MobileMoneyProvider), `behaviour` (scripts per phone),
`records` (its own table), `delivery` + `transport` (callbacks by rq job over HTTP),
`payloads` (Daraja-format callback bodies), `phone` (prompts and paybill payments).
Callers use this module's names: `simulator.set_behaviour(...)`.

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

from payments.providers.simulator.behaviour import (
    Behaviour,
    behaviour_for,
    clear_behaviours,
    set_behaviour,
)
from payments.providers.simulator.delivery import deliver
from payments.providers.simulator.payloads import (
    b2c_payload,
    b2c_timeout_payload,
    c2b_payload,
    reversal_payload,
    status_payload,
    stk_payload,
)
from payments.providers.simulator.phone import (
    Prompt,
    answer_prompt,
    pending_prompts,
    simulate_paybill_payment,
)
from payments.providers.simulator.provider import SimulatorProvider
from payments.providers.simulator.records import SimRecord, net_float, new_receipt
from payments.providers.simulator.transport import CallbackRefused, using_transport

__all__ = [
    "Behaviour",
    "CallbackRefused",
    "Prompt",
    "SimRecord",
    "SimulatorProvider",
    "answer_prompt",
    "b2c_payload",
    "b2c_timeout_payload",
    "behaviour_for",
    "c2b_payload",
    "clear_behaviours",
    "deliver",
    "net_float",
    "new_receipt",
    "pending_prompts",
    "reversal_payload",
    "set_behaviour",
    "simulate_paybill_payment",
    "status_payload",
    "stk_payload",
    "using_transport",
]
