"""Processing stored callbacks: an rq job per inbox row, idempotent, one unit of work each.

`process_callback` locks the inbox row, skips it unless it is still
`received`, parses it and routes it by kind (a table, not a chain of ifs).
Each route returns what became of the callback:

- processed: applied, or a harmless repeat;
- break: it disagreed with what we know; a reconciliation break says why;
- waiting: its intent is not stored yet (the callback overtook the push
  answer); the row stays `received`, the sweeper brings it back until
  `orphan_grace` runs out, then it becomes a `callback_without_intent` break
  (with the money parked in suspense when it was a payment to us);
- failed: it can never be applied (unreadable, a field missing, an amount that
  is negative, zero, absurd or not a number, or it kept crashing): an
  `unprocessable_callback` break opens at once, for an operator, with the reason.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, event, or_, select
from sqlalchemy.orm import Session

from core import outbox, runtime
from core.clock import as_utc, utcnow
from core.jobs import drain_started, enqueue_quietly, request_drain
from payments import kinds
from payments.breaks import callback_subject, open_unprocessable_break, record_break
from payments.config import config
from payments.models import (
    AMOUNT_MISMATCH,
    BREAK,
    CALLBACK_WITHOUT_INTENT,
    COLLECTIONS,
    INBOX_FAILED,
    PAYOUTS,
    PROCESSED,
    RECEIVED,
    REVERSAL,
    SUCCEEDED,
    UNAPPLIED_PAYMENT,
    UNMATCHED_C2B,
    CallbackInbox,
    PaymentIntent,
)
from payments.providers.base import CallbackEvent, MalformedCallback
from payments.providers.parsing import parse_callback
from payments.settlement import BREAK as SETTLED_BREAK
from payments.settlement import (
    SETTLEABLE,
    booked_elsewhere,
    float_inflow,
    park_in_suspense,
    reverse_payment,
    settle_collection_failure,
    settle_collection_success,
    settle_payout_failure,
    settle_payout_success,
)
from payments.status import schedule_status_query

logger = logging.getLogger(__name__)

QUEUE = "payments"
DONE, BROKEN, WAITING, SKIPPED, FAILED = "processed", "break", "waiting", "skipped", "failed"
Route = Callable[[Session, CallbackInbox, CallbackEvent], str]


# --- the job ---------------------------------------------------------------------------------


MAX_ATTEMPTS = 10
"""Runs that crash before a callback is given up as `failed`, for an operator to look at."""


def process_callback(inbox_id: int) -> str:
    """Apply one stored callback (an rq job); running it again changes nothing."""
    try:
        return _process(inbox_id)
    except Exception as exc:
        _count_crash(inbox_id, exc)
        raise


def _process(inbox_id: int) -> str:
    with runtime.current().db.transaction() as session:
        inbox = _lock(session, inbox_id)
        if inbox is None or inbox.status != RECEIVED:
            return SKIPPED
        return _apply(session, inbox)


def _apply(session: Session, inbox: CallbackInbox) -> str:
    """Parse and route one locked, still `received` callback in the caller's transaction."""
    try:
        parsed = parse_callback(inbox.kind, json.loads(inbox.raw))  # type: ignore[arg-type]
        refuse_unusable(parsed)
    except (MalformedCallback, ValueError) as exc:
        inbox.attempts += 1
        give_up(session, inbox, str(exc))
        return FAILED
    outcome = ROUTES[inbox.kind](session, inbox, parsed)
    _slow_down_for_tests()
    # Written last, so one UPDATE at commit carries the count and the status (a failed
    # run rolls back either way); a route that has to wait leaves the row `received`.
    inbox.attempts += 1
    if outcome != WAITING:
        inbox.status = BREAK if outcome == BROKEN else PROCESSED
        inbox.processed_at, inbox.error = utcnow(), None
    return outcome


# --- draining the inbox: many callbacks per rq job --------------------------------------------

DRAIN = "payments-inbox"
DRAIN_LIMIT = 500
"""Callbacks one drain job takes at most, so that a job stays short; a full one asks for
another drain before it ends."""

# Fresh rows only (never tried): a callback that waits for its intent or crashed has
# `attempts` > 0 and is the sweeper's (`requeue_stuck`, by id), so no drain loops on it.
# SKIP LOCKED: two drains (two workers) take different rows instead of queuing.
_CLAIM_FIRST = (select(CallbackInbox)
                .where(CallbackInbox.status == RECEIVED, CallbackInbox.attempts == 0)
                .order_by(CallbackInbox.received_at, CallbackInbox.id).limit(1)
                .with_for_update(skip_locked=True))
# Then on from the row taken last: the rows a drain has just processed are dead index
# entries under `status = 'received'` until vacuum, and starting from the oldest each time
# made PostgreSQL step over all of them for every callback (its CPU grew with the batch).
_CLAIM_NEXT = _CLAIM_FIRST.where(
    CallbackInbox.received_at >= bindparam("after_at"),
    or_(CallbackInbox.received_at > bindparam("after_at"),
        CallbackInbox.id > bindparam("after_id")))


def request_processing() -> None:
    """Have the stored callbacks processed: enqueue a drain job unless one is waiting."""
    request_drain(drain_inbox, name=DRAIN, queue=QUEUE)


def drain_inbox(limit: int = DRAIN_LIMIT) -> dict[str, int]:
    """Process fresh stored callbacks one by one, each in its own transaction (an rq job).

    A callback that crashes is counted (`_count_crash`) and left to the sweeper; it
    never rolls back or holds up the others. A worker killed here loses only the
    transaction of the callback in hand: that row stays fresh for the next drain. The
    receipts the callbacks queue are announced to their SMS drain every `RECEIPTS_EVERY`
    callbacks and at the end. Returns how many callbacks ended in each outcome.

    One transaction per callback, not per batch: a repayment locks its lenders' wallets
    until COMMIT, and a batch would hold most lenders' wallets at once (two drains would
    deadlock, or take turns); `docs/payments.md` has the reasoning.
    """
    drain_started(DRAIN)
    outcomes: dict[str, int] = {}
    with outbox.dispatch_requests_held() as release_dispatch:
        _drain(limit, outcomes, release_dispatch)
    return outcomes


RECEIPTS_EVERY = 20
"""Callbacks a drain processes before it asks for their receipts to be sent: one Redis round
trip per 20 callbacks instead of one each, for at most ~20 callbacks' wait."""


def _drain(limit: int, outcomes: dict[str, int], release_dispatch: Callable[[], None]) -> None:
    crashed: set[int] = set()
    after: tuple[datetime, int] | None = None
    for done in range(limit):
        claimed: list[tuple[datetime, int]] = []
        try:
            outcome = _process_next(after, claimed)
        except Exception as exc:  # noqa: BLE001 - one callback's crash must not stop the rest
            if not claimed or claimed[0][1] in crashed:
                raise  # the claim itself fails, or the crash could not be recorded: stop
            crashed.add(claimed[0][1])
            _count_crash(claimed[0][1], exc)
            logger.warning("callback %s crashed in a drain; left for the sweeper",
                           claimed[0][1], exc_info=True)
            outcome = "crashed"
        if outcome is None:
            break
        after = claimed[0]
        if done == 1:  # a backlog: a second worker may drain beside this one
            request_processing()
        if done % RECEIPTS_EVERY == RECEIPTS_EVERY - 1:
            release_dispatch()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    else:
        request_processing()  # stopped at the limit: the rest needs a job


def _process_next(after: tuple[datetime, int] | None,
                  claimed: list[tuple[datetime, int]]) -> str | None:
    """Claim the oldest fresh callback after `after` that nobody holds and apply it; None
    when there is none. What it claimed goes into `claimed` (for the caller's bookkeeping)."""
    with runtime.current().db.transaction() as session:
        if after is None:
            inbox = session.scalar(_CLAIM_FIRST)
        else:
            inbox = session.scalar(_CLAIM_NEXT, {"after_at": after[0], "after_id": after[1]})
        if inbox is None:
            return None
        claimed.append((inbox.received_at, inbox.id))
        return _apply(session, inbox)


def refuse_unusable(evt: CallbackEvent) -> None:
    """Raise MalformedCallback for a well-formed callback whose money makes no sense."""
    if evt.outcome == "success" and evt.amount is not None and evt.amount <= 0:
        raise MalformedCallback(f"{evt.kind}: a completed payment of {evt.amount} cents")


def give_up(session: Session, inbox: CallbackInbox, reason: str) -> None:
    """A callback that can never be applied: `failed`, and an open break saying why.

    The provider was acknowledged (it must stop resending); the raw body stays in
    the inbox row the break points to. Nothing is posted to the ledger.
    """
    inbox.status, inbox.error, inbox.processed_at = INBOX_FAILED, reason[:500], utcnow()
    logger.warning("callback %s (%s) cannot be applied: %s", inbox.id, inbox.kind, reason)
    open_unprocessable_break(session, inbox, reason)


def _count_crash(inbox_id: int, exc: Exception) -> None:
    """Remember a crashed run in its own transaction; stop retrying a poison callback."""
    try:
        with runtime.current().db.transaction() as session:
            inbox = _lock(session, inbox_id)
            if inbox is None or inbox.status != RECEIVED:
                return
            inbox.attempts += 1
            inbox.error = f"{type(exc).__name__}: {exc}"[:500]
            if inbox.attempts >= MAX_ATTEMPTS:
                logger.error("callback %s failed %s times; left for an operator", inbox_id,
                             inbox.attempts)
                give_up(session, inbox, f"processing failed {inbox.attempts} times, last: "
                                        f"{inbox.error}")
    except Exception:  # noqa: BLE001 - the original error is the one worth raising
        logger.warning("could not record the failure of callback %s", inbox_id, exc_info=True)


def _lock(session: Session, inbox_id: int) -> CallbackInbox | None:
    query = select(CallbackInbox).where(CallbackInbox.id == inbox_id)
    query = query.with_for_update()
    return session.scalar(query)


def _slow_down_for_tests() -> None:
    """MPESA_PROCESSING_DELAY: hold the transaction open, so a test can kill the worker here."""
    delay = config().processing_delay
    if delay > 0:
        time.sleep(delay)


def enqueue_processing(inbox_id: int, *, job_id: str) -> None:
    """Queue `process_callback` for one committed inbox row (never fails the caller).

    For rows a drain does not take (tried before: waiting for their intent, or
    crashed) and for a row that must go now; new callbacks use `request_processing`.
    """
    enqueue_quietly(process_callback, inbox_id, queue=QUEUE, job_id=job_id)


def enqueue_after_commit(session: Session, inbox_id: int) -> None:
    """Queue processing once the caller's transaction has committed (and not if it rolls back)."""
    session.info.setdefault("payments_inbox_to_process", []).append(inbox_id)


@event.listens_for(Session, "after_commit")
def _enqueue_pending(session: Session) -> None:
    for inbox_id in session.info.pop("payments_inbox_to_process", []):
        enqueue_processing(inbox_id, job_id=f"callback-{inbox_id}-early")


@event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    session.info.pop("payments_inbox_to_process", None)


# --- finding the intent --------------------------------------------------------------------


def _intent_where(session: Session, *conditions: object) -> PaymentIntent | None:
    query = select(PaymentIntent).where(*conditions).limit(1)  # type: ignore[arg-type]
    query = query.with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def _by_checkout(session: Session, checkout_id: str) -> PaymentIntent | None:
    return _intent_where(session, PaymentIntent.checkout_request_id == checkout_id)


def _by_originator(session: Session, originator: str) -> PaymentIntent | None:
    return _intent_where(session, PaymentIntent.originator_conversation_id == originator)


def _outcome(result: str) -> str:
    return BROKEN if result == SETTLED_BREAK else DONE


# --- routes ----------------------------------------------------------------------------------


def on_stk(session: Session, inbox: CallbackInbox, evt: CallbackEvent) -> str:
    """An STK push result: settle its intent, or wait for the intent to be stored."""
    intent = _by_checkout(session, evt.external_id)
    if intent is None:
        return _orphan(session, inbox, evt)
    if evt.outcome == "success":
        return _outcome(settle_collection_success(
            session, intent, amount=evt.amount, receipt=evt.receipt,
            occurred_at=evt.occurred_at, inbox_id=inbox.id))
    if evt.outcome in ("failed", "cancelled"):
        settle_collection_failure(session, intent, cancelled=evt.outcome == "cancelled",
                                  code=evt.result_code, desc=evt.reason)
    return DONE


def _orphan(session: Session, inbox: CallbackInbox, evt: CallbackEvent) -> str:
    """A result for an intent we do not know: wait a while, then break (money to suspense)."""
    if utcnow() - as_utc(inbox.received_at) < config().orphan_grace:
        logger.info("callback %s waits for its intent (%s)", inbox.id, inbox.kind)
        return WAITING
    entry = None
    if evt.outcome == "success" and evt.amount and evt.kind in ("stk", "c2b_confirmation"):
        entry = park_in_suspense(session, amount=evt.amount, receipt=evt.receipt or
                                 evt.external_id, at=evt.occurred_at,
                                 reason="callback without intent")
    _break(session, CALLBACK_WITHOUT_INTENT, inbox, evt,
           journal_entry_id=entry.id if entry is not None else None)
    return BROKEN


def _break(session: Session, type_: str, inbox: CallbackInbox, evt: CallbackEvent,
           **fields: object) -> None:
    record_break(
        session, type_, callback_subject(inbox.id), amount=evt.amount,
        receipt=evt.receipt, phone=evt.phone, inbox_id=inbox.id,
        details={"kind": inbox.kind, "external_id": inbox.external_id,
                 "outcome": evt.outcome, "result_code": evt.result_code,
                 "reference": evt.account_reference},
        **fields,  # type: ignore[arg-type]
    )


def on_c2b_validation(session: Session, inbox: CallbackInbox, evt: CallbackEvent) -> str:
    """Validation was answered synchronously by the endpoint; nothing moves until confirmation."""
    return DONE


def on_c2b_confirmation(session: Session, inbox: CallbackInbox, evt: CallbackEvent) -> str:
    """A paybill payment: its owner (lending: the loan its account names) takes it, or suspense."""
    assert evt.amount is not None and evt.receipt is not None
    earlier = booked_elsewhere(session, evt.receipt, own_key=evt.external_id)
    if earlier is not None:
        # The same payment reported as an STK result first: posted once already.
        if float_inflow(earlier) != evt.amount:
            _break(session, AMOUNT_MISMATCH, inbox, evt, journal_entry_id=earlier.id)
            return BROKEN
        return DONE
    try:
        kinds.paybill().apply(session, account=evt.account_reference, amount=evt.amount,
                              key=evt.external_id, receipt=evt.receipt,
                              received_at=evt.occurred_at)
        return DONE
    except kinds.Unapplied as exc:
        if exc.code == "key_conflict":
            _break(session, AMOUNT_MISMATCH, inbox, evt, loan_id=exc.loan_id)
            return BROKEN
        unapplied = exc
    entry = park_in_suspense(session, amount=evt.amount, receipt=evt.receipt,
                             at=evt.occurred_at, reason=unapplied.reason)
    _break(session, UNMATCHED_C2B, inbox, evt, journal_entry_id=entry.id,
           loan_id=unapplied.loan_id)
    return BROKEN


def on_b2c_result(session: Session, inbox: CallbackInbox, evt: CallbackEvent) -> str:
    """A payout's result: complete it, or undo it and open a payout_failed break."""
    intent = _by_originator(session, evt.external_id)
    if intent is None:
        return _orphan(session, inbox, evt)
    return _settle(session, intent, inbox, evt)


def _settle(session: Session, intent: PaymentIntent, inbox: CallbackInbox,
            evt: CallbackEvent) -> str:
    """Apply a result (callback or status answer) to any kind of intent."""
    if evt.outcome not in ("success", "failed", "cancelled"):
        return DONE  # pending / unknown: the sweeper asks again
    success = evt.outcome == "success"
    if intent.kind in PAYOUTS:
        if success:
            return _outcome(settle_payout_success(
                session, intent, amount=evt.amount, receipt=evt.receipt,
                occurred_at=evt.occurred_at, inbox_id=inbox.id))
        return _outcome(settle_payout_failure(session, intent, code=evt.result_code,
                                              desc=evt.reason, inbox_id=inbox.id))
    if intent.kind in COLLECTIONS:
        if success:
            return _outcome(settle_collection_success(
                session, intent, amount=evt.amount, receipt=evt.receipt,
                occurred_at=evt.occurred_at, inbox_id=inbox.id))
        settle_collection_failure(session, intent, cancelled=evt.outcome == "cancelled",
                                  code=evt.result_code, desc=evt.reason)
        return DONE
    return _settle_reversal(session, intent, inbox, evt)


def on_timeout(session: Session, inbox: CallbackInbox, evt: CallbackEvent) -> str:
    """A queue timeout says nothing about the money: ask M-Pesa by status query."""
    intent = _by_originator(session, evt.external_id) or _intent_where(
        session, PaymentIntent.last_query_id == evt.external_id)
    if intent is not None and intent.status in SETTLEABLE:
        schedule_status_query(session, intent)
    return DONE


def on_status_result(session: Session, inbox: CallbackInbox, evt: CallbackEvent) -> str:
    """A Transaction Status answer: settle the intent it was about."""
    conditions = [PaymentIntent.last_query_id == evt.external_id]
    if evt.queried_id:
        conditions.append(PaymentIntent.originator_conversation_id == evt.queried_id)
    if evt.receipt:
        conditions.append(PaymentIntent.receipt == evt.receipt)
    intent = _intent_where(session, or_(*conditions))
    if intent is None:
        if evt.outcome == "success":
            _break(session, CALLBACK_WITHOUT_INTENT, inbox, evt)
            return BROKEN
        return DONE
    return _settle(session, intent, inbox, evt)


def on_reversal_result(session: Session, inbox: CallbackInbox, evt: CallbackEvent) -> str:
    """A reversal's result, ours or one M-Pesa made on its own (customer care)."""
    intent = _by_originator(session, evt.external_id)
    if intent is None:
        if evt.outcome != "success":
            return DONE
        # M-Pesa reversed a payment we never asked about: the money has gone all the same.
        entry = _reverse_in_ledger(session, evt)
        _break(session, CALLBACK_WITHOUT_INTENT, inbox, evt, journal_entry_id=entry)
        return BROKEN
    return _settle_reversal(session, intent, inbox, evt)


def _settle_reversal(session: Session, intent: PaymentIntent, inbox: CallbackInbox,
                     evt: CallbackEvent) -> str:
    if intent.kind != REVERSAL or intent.status not in SETTLEABLE:
        return DONE
    if evt.outcome != "success":
        intent.status, intent.settled_at = "failed", utcnow()
        intent.result_code, intent.result_desc = str(evt.result_code)[:20], evt.reason[:300]
        return DONE
    if evt.amount is not None and evt.amount != intent.amount:
        _break(session, AMOUNT_MISMATCH, inbox, evt, intent_id=intent.id)
        return BROKEN
    _reverse_in_ledger(session, evt, amount=intent.amount,
                       original=intent.original_receipt, inbox=inbox)
    intent.status, intent.settled_at, intent.result_code = SUCCEEDED, utcnow(), "0"
    intent.receipt = intent.receipt or evt.receipt
    return DONE


def _reverse_in_ledger(session: Session, evt: CallbackEvent, *, amount: int | None = None,
                       original: str | None = None,
                       inbox: CallbackInbox | None = None) -> int | None:
    original = original or evt.original_receipt
    amount = amount if amount is not None else evt.amount
    if original is None or not amount:
        return None
    entry, needs_operator = reverse_payment(
        session, original_receipt=original, amount=amount,
        receipt=evt.receipt or evt.external_id, at=evt.occurred_at)
    if needs_operator and inbox is not None:
        _break(session, UNAPPLIED_PAYMENT, inbox, evt, journal_entry_id=entry.id)
    return entry.id


ROUTES: dict[str, Route] = {
    "stk": on_stk,
    "c2b_validation": on_c2b_validation,
    "c2b_confirmation": on_c2b_confirmation,
    "b2c_result": on_b2c_result,
    "b2c_timeout": on_timeout,
    "status_result": on_status_result,
    "status_timeout": on_timeout,
    "reversal_result": on_reversal_result,
    "reversal_timeout": on_timeout,
}


# --- what the endpoint and the sweeper use --------------------------------------------------


def requeue_stuck(older_than: timedelta = timedelta(seconds=60), limit: int = 500) -> int:
    """Re-enqueue callbacks still `received` (their job was lost, or they wait for an intent)."""
    cutoff = utcnow() - older_than
    with runtime.current().db.transaction() as session:
        rows = session.execute(
            select(CallbackInbox.id, CallbackInbox.attempts)
            .where(CallbackInbox.status == RECEIVED, CallbackInbox.received_at <= cutoff)
            .order_by(CallbackInbox.id).limit(limit)).all()
    for inbox_id, attempts in rows:
        enqueue_processing(inbox_id, job_id=f"callback-{inbox_id}-{attempts}")
    return len(rows)


__all__ = ["ROUTES", "drain_inbox", "enqueue_after_commit", "enqueue_processing",
           "process_callback", "request_processing", "requeue_stuck"]
