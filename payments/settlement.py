"""Settling intents: the one place where an M-Pesa outcome becomes ledger entries.

Callbacks (`payments.processing`) and status queries (`payments.outbound`)
both end here, with the intent's row lock held, so an outcome is applied once
however many times and by whichever path it arrives. The entries, per event:

- a collection or payout of a kind a domain registered (`payments.kinds`): that domain's
  `on_success` / `on_undo` / `on_failure` — lending's repayments (`repayment:{CheckoutRequestID}`),
  wallet top-ups (`deposit:{CheckoutRequestID}`) and loan payouts live in `lending.settlement`;
  an owner that refuses the money (`kinds.Unapplied`) has it parked in suspense with a break.
- withdrawal requested: Dr lender wallet / Cr withdrawals in flight (`withdrawal-hold:{id}`).
- withdrawal B2C success: Dr withdrawals in flight / Cr float (`withdrawal:{id}`).
- withdrawal B2C failure: Dr withdrawals in flight / Cr lender wallet
  (`withdrawal-release:{id}`).
- a kind another domain registered (`payments.kinds`): that domain's entry, under
  its own key prefix; a failed payout calls its `on_undo` to release the hold.
- money we cannot apply: Dr float / Cr suspense (`suspense:{receipt}`).
- reversal of money in suspense or of a top-up: the mirror of its entry (`reversal:…`);
  of a repayment or of a payment we never posted: Dr suspense / Cr float
  (`reversal-suspense:{receipt}`) and a break.

The same key with a different amount is never applied: it becomes an
`amount_mismatch` break and the ledger is left alone.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, String, bindparam, literal, select
from sqlalchemy.orm import Session

import ledger
from core.clock import as_utc, utcnow
from ledger import MOBILE_MONEY_FLOAT, SUSPENSE, credit, debit, lender_wallet
from payments import kinds
from payments.accounts import withdrawals_in_flight
from payments.breaks import record_break
from payments.models import (
    AMOUNT_MISMATCH,
    CANCELLED,
    COLLECTIONS,
    CONFLICTING_OUTCOME,
    DUPLICATE,
    FAILED,
    PAYOUT_FAILED,
    PENDING,
    REQUESTED,
    SUCCEEDED,
    UNAPPLIED_PAYMENT,
    UNKNOWN,
    WITHDRAWAL,
    PaymentIntent,
)

logger = logging.getLogger(__name__)

SETTLEABLE = (PENDING, REQUESTED, UNKNOWN)
"""Statuses an outcome may still settle; `unknown` is "we could not tell", not final."""

APPLIED, DUPLICATE_OUTCOME, BREAK, IGNORED = "applied", "duplicate", "break", "ignored"


def _finish(intent: PaymentIntent, status: str, *, code: object = None, desc: str = "",
            receipt: str | None = None) -> None:
    intent.status, intent.settled_at = status, utcnow()
    intent.result_code = None if code is None else str(code)[:20]
    if desc:
        intent.result_desc = desc[:300]
    if receipt and intent.receipt is None:
        intent.receipt = receipt


def _mismatch(session: Session, intent: PaymentIntent, amount: int, receipt: str | None,
              inbox_id: int | None) -> str:
    record_break(
        session, AMOUNT_MISMATCH, f"intent:{intent.id}:{amount}", amount=amount,
        currency=intent.currency, receipt=receipt, phone=intent.phone or None,
        intent_id=intent.id, inbox_id=inbox_id, loan_id=intent.loan_id,
        details={"expected": intent.amount, "reported": amount,
                 "note": "reported amount differs from the intent; not applied"},
    )
    return BREAK


def _conflict(session: Session, intent: PaymentIntent, reported: str, inbox_id: int | None,
              receipt: str | None = None) -> None:
    record_break(
        session, CONFLICTING_OUTCOME, f"intent:{intent.id}:{reported}", amount=intent.amount,
        currency=intent.currency, receipt=receipt, phone=intent.phone or None,
        intent_id=intent.id, inbox_id=inbox_id, loan_id=intent.loan_id,
        details={"settled_as": intent.status, "reported": reported},
    )


# --- collections (STK) -------------------------------------------------------------------


def settle_collection_success(
    session: Session, intent: PaymentIntent, *, amount: int | None, receipt: str | None,
    occurred_at: datetime | None, inbox_id: int | None = None,
) -> str:
    """The customer paid: post it once; a wrong amount is a break, never an entry."""
    if amount is not None and amount != intent.amount:
        return _mismatch(session, intent, amount, receipt, inbox_id)
    if intent.status == SUCCEEDED:
        if receipt and intent.receipt is None:
            intent.receipt = receipt
        return DUPLICATE_OUTCOME
    if intent.status in (FAILED, CANCELLED):
        # A real success after a failure was recorded: the money arrived, so apply it,
        # and tell an operator the customer was told otherwise.
        _conflict(session, intent, "success", inbox_id, receipt)
    at = as_utc(occurred_at) if occurred_at else utcnow()
    key = intent.checkout_request_id or intent.idempotency_key
    earlier = booked_elsewhere(session, receipt, own_key=key)
    if earlier is not None:
        return _already_booked(session, intent, earlier, receipt, inbox_id)
    try:
        kinds.owner_of(intent.kind).on_success(session, intent, key, at, receipt)
    except kinds.Unapplied as exc:
        _park_unapplied(session, intent, key, receipt, at, inbox_id, exc)
    _finish(intent, SUCCEEDED, code=0, desc="paid", receipt=receipt)
    return APPLIED


def booked_elsewhere(session: Session, receipt: str | None,
                     own_key: str | None = None) -> ledger.JournalEntry | None:
    """The entry another path already posted for this M-Pesa receipt: one receipt, one posting.

    M-Pesa can report one payment twice over different routes (an STK payment into a
    paybill may also reach the C2B confirmation URL), each with its own idempotency key.
    """
    if not receipt:
        return None
    entry = entry_funded_by(session, receipt)
    if entry is None or (own_key is not None and entry.key.endswith(f":{own_key}")):
        return None
    return entry


def _already_booked(session: Session, intent: PaymentIntent, earlier: ledger.JournalEntry,
                    receipt: str | None, inbox_id: int | None) -> str:
    """Settle the intent on the earlier posting; tell an operator unless it went to its loan."""
    _finish(intent, SUCCEEDED, code=0, desc=f"already booked as {earlier.key}", receipt=receipt)
    if not (earlier.kind == "loan_repayment" and earlier.loan_id == intent.loan_id
            and float_inflow(earlier) == intent.amount):
        record_break(session, DUPLICATE, f"receipt:{receipt}", amount=intent.amount,
                     currency=intent.currency, receipt=receipt, phone=intent.phone,
                     intent_id=intent.id, inbox_id=inbox_id, loan_id=intent.loan_id,
                     journal_entry_id=earlier.id,
                     details={"booked_as": earlier.key, "note": "one receipt, posted once"})
    return DUPLICATE_OUTCOME


def _member(intent: PaymentIntent) -> int:
    if intent.member_id is None:
        raise ValueError(f"intent {intent.id} has no member")
    return intent.member_id


def _park_unapplied(session: Session, intent: PaymentIntent, key: str, receipt: str | None,
                    at: datetime, inbox_id: int | None, exc: kinds.Unapplied) -> None:
    """The money is ours to account for even if its owner will not take it (a loan repaid
    meanwhile, written off …): park it, and let an operator apply or refund it."""
    park_in_suspense(session, amount=intent.amount, receipt=receipt or key, at=at,
                     currency=intent.currency, reason=exc.reason)
    record_break(session, UNAPPLIED_PAYMENT, f"stk:{key}", amount=intent.amount,
                 currency=intent.currency, receipt=receipt, phone=intent.phone,
                 intent_id=intent.id, inbox_id=inbox_id, loan_id=intent.loan_id,
                 details={"reason": exc.code, "message": exc.message})


def settle_collection_failure(
    session: Session, intent: PaymentIntent, *, cancelled: bool, code: object, desc: str,
) -> str:
    """The customer did not pay (cancelled, wrong PIN, unreachable …): nothing to post."""
    if intent.status not in SETTLEABLE:
        if intent.status == SUCCEEDED:
            logger.warning("intent %s: failure reported after success; keeping the success",
                           intent.id)
        return IGNORED
    _finish(intent, CANCELLED if cancelled else FAILED, code=code, desc=desc)
    if intent.kind in COLLECTIONS:
        on_failure = kinds.owner_of(intent.kind).on_failure
        if on_failure is not None:
            on_failure(session, intent)
    return APPLIED


# --- payouts (B2C) -------------------------------------------------------------------------


def settle_payout_success(
    session: Session, intent: PaymentIntent, *, amount: int | None, receipt: str | None,
    occurred_at: datetime | None, inbox_id: int | None = None,
) -> str:
    """The money reached the customer: complete the loan or the withdrawal, once."""
    if amount is not None and amount != intent.amount:
        return _mismatch(session, intent, amount, receipt, inbox_id)
    if intent.status == SUCCEEDED:
        return DUPLICATE_OUTCOME
    if intent.status not in SETTLEABLE:
        # We recorded a failure and undid the payout; only an operator can sort this out.
        _conflict(session, intent, "success", inbox_id, receipt)
        return BREAK
    at = as_utc(occurred_at) if occurred_at else utcnow()
    receipt = receipt or intent.conversation_id or intent.idempotency_key
    if intent.kind == WITHDRAWAL:
        ledger.post(
            session, f"withdrawal:{intent.id}", "wallet_withdrawal",
            [debit(withdrawals_in_flight(_member(intent)), intent.amount),
             credit(MOBILE_MONEY_FLOAT, intent.amount)],
            currency=intent.currency, member_id=intent.member_id, occurred_at=at,
            description="Withdrawal paid to M-Pesa", meta={"receipt": receipt,
                                                           "intent_id": intent.id},
        )
    else:
        kinds.owner_of(intent.kind).on_success(session, intent, str(intent.id), at, receipt)
    _finish(intent, SUCCEEDED, code=0, desc="paid out", receipt=receipt)
    return APPLIED


def settle_payout_failure(
    session: Session, intent: PaymentIntent, *, code: object, desc: str,
    inbox_id: int | None = None,
) -> str:
    """No money left: undo the payout (loan back to funded, wallet released) and open a break."""
    if intent.status not in SETTLEABLE:
        if intent.status == SUCCEEDED:
            _conflict(session, intent, "failed", inbox_id)
            return BREAK
        return IGNORED
    _finish(intent, FAILED, code=code, desc=desc)
    undo_payout(session, intent, reason=f"payout failed: {desc}"[:200])
    record_break(
        session, PAYOUT_FAILED, f"intent:{intent.id}", amount=intent.amount,
        currency=intent.currency, phone=intent.phone, intent_id=intent.id, inbox_id=inbox_id,
        loan_id=intent.loan_id, details={"kind": intent.kind, "result_code": intent.result_code,
                                         "reason": desc},
    )
    return APPLIED


def undo_payout(session: Session, intent: PaymentIntent, *, reason: str) -> None:
    """Put back what a payout that never happened took: the loan's state, the lender's money."""
    if intent.kind == WITHDRAWAL:
        ledger.post(
            session, f"withdrawal-release:{intent.id}", "withdrawal_release",
            [debit(withdrawals_in_flight(_member(intent)), intent.amount),
             credit(lender_wallet(_member(intent)), intent.amount)],
            currency=intent.currency, member_id=intent.member_id,
            description="Withdrawal not paid; back to the wallet",
            meta={"intent_id": intent.id, "reason": reason},
        )
    else:
        undo = kinds.owner_of(intent.kind).on_undo
        if undo is not None:
            undo(session, intent, reason)


# --- suspense and reversals -----------------------------------------------------------------


def park_in_suspense(session: Session, *, amount: int, receipt: str, at: datetime | None,
                     currency: str = "KES", reason: str = "") -> ledger.JournalEntry:
    """Money arrived that we cannot apply: Dr float / Cr suspense, once per receipt."""
    return ledger.post(
        session, f"suspense:{receipt}", "suspense_receipt",
        [debit(MOBILE_MONEY_FLOAT, amount), credit(SUSPENSE, amount)],
        currency=currency, occurred_at=as_utc(at) if at else utcnow(),
        description="Unmatched M-Pesa receipt", meta={"receipt": receipt, "reason": reason},
    )


def entry_funded_by(session: Session, receipt: str) -> ledger.JournalEntry | None:
    """The journal entry a customer payment (by M-Pesa receipt or key) was posted as."""
    prefixes = tuple(dict.fromkeys((*_FUNDING_PREFIXES, *kinds.funding_prefixes())))
    return session.scalar(_funded_by(prefixes), {"receipt": receipt})


_FUNDING_PREFIXES = ("suspense:", "repayment:", "deposit:")


@lru_cache(maxsize=4)
def _funded_by(prefixes: tuple[str, ...]) -> Select[Any]:
    """One query for the direct keys and for those of the STK intent that got the receipt;
    built once per set of prefixes (every paybill callback asks it, and building a
    statement costs more CPU than PostgreSQL spends running it)."""
    receipt = bindparam("receipt", type_=String())
    checkout = (select(PaymentIntent.checkout_request_id)
                .where(PaymentIntent.receipt == receipt).scalar_subquery())
    keys: list[Any] = [literal(prefix) + receipt for prefix in prefixes]
    keys += [literal(prefix) + checkout for prefix in prefixes]
    return (select(ledger.JournalEntry).where(ledger.JournalEntry.key.in_(keys))
            .order_by(ledger.JournalEntry.id).limit(1))


def reverse_payment(session: Session, *, original_receipt: str, amount: int, receipt: str,
                    at: datetime | None, currency: str = "KES") -> tuple[ledger.JournalEntry, bool]:
    """M-Pesa gave a customer's payment back; returns the entry and whether an operator must act.

    Money parked in suspense, or a wallet top-up still in the wallet, is mirrored
    exactly (`ledger.reverse`). A loan repayment is not: mirroring it would claw
    money back from lenders' wallets (perhaps already spent) behind the loan's back,
    so the float is put against suspense and the loan is left for lending to unwind.
    """
    original = entry_funded_by(session, original_receipt)
    if (original is not None and original.kind != "loan_repayment"
            and float_inflow(original) == amount):
        try:
            with session.begin_nested():
                entry = ledger.reverse(session, original,
                                       description=f"M-Pesa reversal {receipt}")
            return entry, False
        except ledger.InsufficientFunds:
            pass  # the lender spent the top-up already
    entry = ledger.post(
        session, f"reversal-suspense:{receipt}", "reversal_unmatched",
        [debit(SUSPENSE, amount), credit(MOBILE_MONEY_FLOAT, amount)],
        currency=currency, occurred_at=as_utc(at) if at else utcnow(),
        description=f"M-Pesa reversal {receipt} of {original_receipt}",
        meta={"receipt": receipt, "original_receipt": original_receipt,
              "original_entry": original.key if original is not None else None},
    )
    return entry, True


def float_inflow(entry: ledger.JournalEntry) -> int:
    """How much an entry brought into the M-Pesa float (negative: took out)."""
    return sum(p.amount for p in entry.postings if p.account.code == MOBILE_MONEY_FLOAT.code)
