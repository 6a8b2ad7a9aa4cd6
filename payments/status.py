"""Status queries: how an intent without an answer gets one, a bounded number of times."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session

from core import outbox
from core.clock import utcnow
from payments.breaks import intent_subject, record_break
from payments.config import config
from payments.models import STALE_PENDING, UNKNOWN, PaymentIntent

logger = logging.getLogger(__name__)

QUEUE = "payments"
STATUS_QUERY = "mpesa.status_query"


def query_backoff(queries_made: int) -> timedelta:
    """Wait 1, 2, 4 … minutes (at most 30) between the queries about one intent."""
    return timedelta(minutes=min(2 ** max(queries_made - 1, 0), 30))


def schedule_status_query(session: Session, intent: PaymentIntent) -> bool:
    """Order the next status query, or give up after the last one; True if one was ordered."""
    if intent.status_queries >= config().max_status_queries:
        mark_stale(session, intent)
        return False
    intent.status_queries += 1
    intent.deadline_at = utcnow() + query_backoff(intent.status_queries)
    outbox.add(session, STATUS_QUERY, f"status:{intent.id}:{intent.status_queries}",
               {"intent_id": intent.id}, queue=QUEUE)
    return True


def mark_stale(session: Session, intent: PaymentIntent) -> None:
    """No answer after every query: `unknown`, and a break an operator must resolve.

    The intent stays settleable: a late callback still settles it. Nothing is
    undone, because nobody knows whether the money moved.
    """
    intent.status = UNKNOWN
    intent.result_desc = f"no answer after {intent.status_queries} status queries"
    record_break(
        session, STALE_PENDING, intent_subject(intent.id), amount=intent.amount,
        currency=intent.currency, phone=intent.phone or None, intent_id=intent.id,
        loan_id=intent.loan_id, details={"kind": intent.kind,
                                         "status_queries": intent.status_queries},
    )
    logger.warning("intent %s (%s) is stale after %s queries", intent.id, intent.kind,
                   intent.status_queries)
