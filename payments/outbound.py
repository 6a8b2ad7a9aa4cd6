"""Outbox handlers: the only code that calls the mobile-money provider.

Each handler locks its intent, does nothing if the intent moved on, and calls
the provider with the intent's own idempotency key. Errors, by kind of call:

- STK push, status query: TransientError goes back to the outbox, which
  retries later with the same key; PermanentError fails the intent.
- B2C and reversal move our money out, so they are never sent twice on a
  guess: only an error that surely never reached M-Pesa is retried; any other
  (a timeout after sending) leaves the intent `requested` for a status query
  to settle. PermanentError fails the payout and opens a break.

Handlers must not raise after changing the intent (the outbox rolls the
handler's savepoint back), so giving up is done by returning normally.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import runtime
from core.clock import utcnow
from core.outbox import MAX_ATTEMPTS, OutboxItem, PermanentError, TransientError
from core.phones import mask_phone
from payments.config import config
from payments.factory import provider_for
from payments.intents import hold_for_approval, lock_intent, sim_swap_hold_reason
from payments.models import COLLECTIONS, FAILED, PENDING, REQUESTED, CallbackInbox, PaymentIntent
from payments.processing import enqueue_after_commit
from payments.providers.base import MobileMoneyProvider, StatusAnswer, provider_call
from payments.settlement import (
    SETTLEABLE,
    settle_collection_failure,
    settle_collection_success,
    settle_payout_failure,
)
from payments.status import mark_stale
from payments.transient import surely_not_sent

logger = logging.getLogger(__name__)


def _provider() -> MobileMoneyProvider:
    return provider_for(runtime.current().settings)


def _last_try(item: OutboxItem) -> bool:
    return item.attempts >= MAX_ATTEMPTS


def send_stk_push(session: Session, item: OutboxItem) -> None:
    """Ask M-Pesa to prompt the customer's phone (M-Pesa Express)."""
    intent = lock_intent(session, int(item.payload["intent_id"]))
    if intent.status != PENDING:
        return
    try:
        with provider_call(session):
            answer = _provider().request_payment(
                phone=intent.phone, amount=intent.amount, reference=intent.reference[:12],
                description=f"Mkopo {intent.kind}", idempotency_key=intent.idempotency_key)
    except PermanentError as exc:
        settle_collection_failure(session, intent, cancelled=False, code=None,
                                  desc=f"refused: {exc}")
        return
    except TransientError as exc:
        if not _last_try(item):
            raise
        _give_up_collection(session, intent, exc)
        return
    intent.checkout_request_id = answer.checkout_request_id
    intent.merchant_request_id = answer.merchant_request_id
    intent.status, intent.deadline_at = REQUESTED, utcnow() + config().stk_deadline
    session.flush()
    _process_early_callbacks(session, "stk", answer.checkout_request_id)
    logger.info("STK push for intent %s sent to %s", intent.id, mask_phone(intent.phone))


def _give_up_collection(session: Session, intent: PaymentIntent, exc: TransientError) -> None:
    if surely_not_sent(exc):
        settle_collection_failure(session, intent, cancelled=False, code=None,
                                  desc=f"M-Pesa unreachable: {exc}")
        return
    # The prompt may have reached the phone; a payment would arrive as a callback we
    # cannot match, and land in suspense. An operator must know either way.
    mark_stale(session, intent)


def _process_early_callbacks(session: Session, kind: str, external_id: str) -> None:
    """A result that arrived before we stored the id it refers to is processed now."""
    early = session.scalar(select(CallbackInbox.id).where(
        CallbackInbox.kind == kind, CallbackInbox.external_id == external_id,
        CallbackInbox.status == "received"))
    if early is not None:
        enqueue_after_commit(session, early)


def send_b2c(session: Session, item: OutboxItem) -> None:
    """Pay a borrower or lender out (B2C), at most once."""
    intent = lock_intent(session, int(item.payload["intent_id"]))
    if intent.status != PENDING:
        return
    held_because = None if intent.approved_by is not None else sim_swap_hold_reason(intent.phone)
    if held_because is not None:
        hold_for_approval(intent, held_because)
        return
    assert intent.originator_conversation_id is not None
    try:
        with provider_call(session):
            answer = _provider().disburse(
                phone=intent.phone, amount=intent.amount, reference=intent.reference,
                idempotency_key=intent.originator_conversation_id)
    except PermanentError as exc:
        settle_payout_failure(session, intent, code=None, desc=f"refused: {exc}")
        return
    except TransientError as exc:
        if surely_not_sent(exc):
            if not _last_try(item):
                raise
            settle_payout_failure(session, intent, code=None, desc=f"M-Pesa unreachable: {exc}")
            return
        _in_doubt(intent, exc)
        return
    intent.conversation_id = answer.conversation_id
    intent.status, intent.deadline_at = REQUESTED, utcnow() + config().b2c_deadline
    session.flush()
    for kind in ("b2c_result", "b2c_timeout"):
        _process_early_callbacks(session, kind, intent.originator_conversation_id)
    logger.info("B2C for intent %s sent to %s", intent.id, mask_phone(intent.phone))


def _in_doubt(intent: PaymentIntent, exc: TransientError) -> None:
    """The request may have been acted on: never resend, ask by status query instead."""
    intent.status, intent.deadline_at = REQUESTED, utcnow()
    intent.result_desc = f"no answer from M-Pesa ({exc}); settling by status query"[:300]
    logger.warning("payout intent %s in doubt; a status query will settle it", intent.id)


def send_reversal(session: Session, item: OutboxItem) -> None:
    """Ask M-Pesa to give a payment back, at most once."""
    intent = lock_intent(session, int(item.payload["intent_id"]))
    if intent.status != PENDING:
        return
    assert intent.original_receipt is not None and intent.originator_conversation_id
    try:
        with provider_call(session):
            answer = _provider().reverse(
                receipt=intent.original_receipt, amount=intent.amount,
                reason=intent.result_desc or "reversal",
                idempotency_key=intent.originator_conversation_id)
    except PermanentError as exc:
        intent.status, intent.settled_at = FAILED, utcnow()
        intent.result_desc = f"refused: {exc}"[:300]
        return
    except TransientError as exc:
        if surely_not_sent(exc) and not _last_try(item):
            raise
        _in_doubt(intent, exc)
        return
    intent.conversation_id = answer.conversation_id
    intent.status, intent.deadline_at = REQUESTED, utcnow() + config().b2c_deadline


def query_status(session: Session, item: OutboxItem) -> None:
    """Ask M-Pesa where an intent stands; an STK query answers now, others by callback."""
    intent = lock_intent(session, int(item.payload["intent_id"]))
    if intent.status not in SETTLEABLE:
        return
    if intent.kind in COLLECTIONS:
        _query_collection(session, intent)
        return
    assert intent.originator_conversation_id is not None
    with provider_call(session):
        answer = _provider().query_status(
            originator_conversation_id=intent.originator_conversation_id)
    intent.last_query_id = answer.originator_conversation_id
    if answer.originator_conversation_id:
        _process_early_callbacks(session, "status_result", answer.originator_conversation_id)


def _query_collection(session: Session, intent: PaymentIntent) -> None:
    if intent.checkout_request_id is None:
        return  # the push never got an answer: there is nothing to ask M-Pesa about
    with provider_call(session):
        answer = _provider().query_status(checkout_request_id=intent.checkout_request_id)
    settle_from_stk_query(session, intent, answer)


def settle_from_stk_query(session: Session, intent: PaymentIntent, answer: StatusAnswer) -> None:
    """Apply an STK query's answer; `pending` and `unknown` leave the intent for the next one."""
    if answer.outcome == "success":
        # The query carries no amount or receipt: the amount is the one we asked for,
        # which M-Pesa Express cannot change.
        settle_collection_success(session, intent, amount=None, receipt=None, occurred_at=None)
    elif answer.outcome in ("failed", "cancelled"):
        settle_collection_failure(session, intent, cancelled=answer.outcome == "cancelled",
                                  code=answer.result_code, desc=answer.reason)
