"""Intent kinds that other domains add: how payments settles money it does not own.

Payments knows how to ask M-Pesa for money (STK push) and how to pay it out
(B2C), with the guards every payout gets (approval threshold, SIM-swap hold,
status queries, breaks). What a success *means* in the ledger belongs to the
domain that owns the money: savings credits a savings account, insurance a
premium pool. Such a domain registers its kind here once per process (its
wiring module is imported by web and worker alike), and `payments.settlement`
calls back into it with the intent's row lock held, so an outcome is applied
once however many times it is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from payments.models import COLLECTIONS, INTENT_KINDS, PAYOUTS, PaymentIntent

COLLECTION, PAYOUT = "collection", "payout"

Settle = Callable[[Session, PaymentIntent, str, datetime, str | None], None]
"""(session, intent, key, occurred_at, receipt): post the entry of a success, once per key."""
Undo = Callable[[Session, PaymentIntent, str], None]
"""(session, intent, reason): give back what a payout that never happened held."""


@dataclass(frozen=True)
class IntentKind:
    """A kind of intent owned by another domain; `kind` fits `payment_intents.kind` (16)."""

    kind: str
    direction: str  # COLLECTION | PAYOUT
    entry_prefix: str  # the key prefix of a collection's entry: one M-Pesa receipt, one posting
    on_success: Settle
    on_undo: Undo | None = None


EXTRA: dict[str, IntentKind] = {}


def register(kind: IntentKind) -> None:
    """Teach payments a new kind of intent; registering the same kind again replaces it."""
    if len(kind.kind) > 16 or kind.direction not in (COLLECTION, PAYOUT):
        raise ValueError(f"bad intent kind {kind.kind!r} ({kind.direction})")
    if kind.kind in INTENT_KINDS and kind.kind not in EXTRA:
        raise ValueError(f"{kind.kind} is one of payments' own kinds")
    EXTRA[kind.kind] = kind
    for group in (COLLECTIONS, PAYOUTS):
        if kind.kind in group:
            group.remove(kind.kind)
    (COLLECTIONS if kind.direction == COLLECTION else PAYOUTS).append(kind.kind)


def funding_prefixes() -> tuple[str, ...]:
    """Key prefixes of the entries registered collections post (see `entry_funded_by`)."""
    return tuple(k.entry_prefix for k in EXTRA.values() if k.direction == COLLECTION)
