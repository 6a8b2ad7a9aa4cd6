"""What money means is the owning domain's business: the kinds it registers with payments.

Payments knows how to ask M-Pesa for money (STK push) and how to pay it out
(B2C), with the guards every payout gets (approval threshold, SIM-swap hold,
status queries, breaks). What a success *means* in the ledger belongs to the
domain that owns the money: lending repays a loan or completes its payout,
savings credits a savings account, insurance a premium pool. Such a domain
registers its kinds here once per process (the wiring of web and worker calls
its `register`), and `payments.settlement` calls back into it with the
intent's row lock held, so an outcome is applied once however many times it is
reported. Paybill payments (C2B), which come without an intent, go to the one
registered `Paybill` owner: lending, which reads the account as a loan.

So payments never imports a domain: the arrows point from the domains to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from payments.models import (
    COLLECTIONS,
    DEPOSIT,
    DISBURSEMENT,
    INTENT_KINDS,
    PAYOUTS,
    REPAYMENT,
    PaymentIntent,
)

COLLECTION, PAYOUT = "collection", "payout"

Settle = Callable[[Session, PaymentIntent, str, datetime, str | None], None]
"""(session, intent, key, occurred_at, receipt): post the entry of a success, once per key."""
Undo = Callable[[Session, PaymentIntent, str], None]
"""(session, intent, reason): give back what a payout that never happened held."""
Fail = Callable[[Session, PaymentIntent], None]
"""(session, intent): a collection the customer did not pay (cancelled, wrong PIN …)."""

OWNED_BY_LENDING = (REPAYMENT, DEPOSIT, DISBURSEMENT)
"""Kinds in payments' own table constraint whose meaning lending registers."""


class Unapplied(Exception):  # noqa: N818 - reads as the outcome it reports
    """The owner will not take this money: payments parks it in suspense and opens a break.

    `code` is the owner's stable reason (`key_conflict` means the key was used for a
    different amount); `reason` is what the suspense entry says; `loan_id` names the
    loan the money was meant for, when there was one.
    """

    def __init__(self, code: str, message: str = "", *, reason: str = "",
                 loan_id: int | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code, self.message = code, message or code.replace("_", " ")
        self.reason, self.loan_id = reason or code, loan_id


@dataclass(frozen=True)
class IntentKind:
    """A kind of intent owned by another domain; `kind` fits `payment_intents.kind` (16)."""

    kind: str
    direction: str  # COLLECTION | PAYOUT
    entry_prefix: str  # the key prefix of a collection's entry: one M-Pesa receipt, one posting
    on_success: Settle
    on_undo: Undo | None = None
    on_failure: Fail | None = None


EXTRA: dict[str, IntentKind] = {}


def register(kind: IntentKind) -> None:
    """Teach payments a new kind of intent; registering the same kind again replaces it."""
    if len(kind.kind) > 16 or kind.direction not in (COLLECTION, PAYOUT):
        raise ValueError(f"bad intent kind {kind.kind!r} ({kind.direction})")
    if kind.kind in INTENT_KINDS and kind.kind not in (*EXTRA, *OWNED_BY_LENDING):
        raise ValueError(f"{kind.kind} is one of payments' own kinds")
    EXTRA[kind.kind] = kind
    for group in (COLLECTIONS, PAYOUTS):
        if kind.kind in group:
            group.remove(kind.kind)
    (COLLECTIONS if kind.direction == COLLECTION else PAYOUTS).append(kind.kind)


def funding_prefixes() -> tuple[str, ...]:
    """Key prefixes of the entries registered collections post (see `entry_funded_by`)."""
    return tuple(k.entry_prefix for k in EXTRA.values() if k.direction == COLLECTION)


def owner_of(kind: str) -> IntentKind:
    """The registered owner of an intent kind; a kind nobody registered is a wiring error."""
    try:
        return EXTRA[kind]
    except KeyError:
        raise LookupError(f"no domain registered the intent kind {kind!r}: "
                          "is its register() called by the wiring?") from None


@dataclass(frozen=True)
class Paybill:
    """Who paybill money belongs to: the account a payer typed, read by its owning domain.

    `knows(session, account)` answers C2B validation; `apply(session, account=…,
    amount=…, key=…, receipt=…, received_at=…)` posts the payment or raises
    `Unapplied`, and payments parks the money in suspense.
    """

    knows: Callable[[Session, str | None], bool]
    apply: Callable[..., None]


_paybill: list[Paybill] = []


def register_paybill(owner: Paybill) -> None:
    """Name the domain that reads paybill accounts; registering again replaces it."""
    _paybill[:] = [owner]


def paybill() -> Paybill:
    """The registered paybill owner; none registered is a wiring error."""
    if not _paybill:
        raise LookupError("no paybill owner registered: is lending.settlement.register() "
                          "called by the wiring?")
    return _paybill[0]
