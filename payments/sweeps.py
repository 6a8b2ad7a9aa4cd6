"""The periodic sweep (every 60 s): rebuild from the database whatever Redis or a worker lost.

- the outbox: items whose dispatch job was lost are enqueued again;
- intents: those past their deadline without an answer get a status query,
  a bounded number of times, then a `stale_pending` break;
- the inbox: callbacks still `received` a minute after arrival (their job was
  lost, or they wait for their intent) are enqueued again.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from core import outbox, runtime
from core.clock import utcnow
from payments.models import REQUESTED, PaymentIntent
from payments.processing import requeue_stuck
from payments.status import schedule_status_query

logger = logging.getLogger(__name__)

BATCH = 200


def run_sweeps() -> dict[str, int]:
    """Run every payments sweep once (an rq job); safe to run twice at the same time."""
    counts = {
        "outbox": outbox.sweep(),
        "status_queries": query_overdue_intents(),
        "callbacks": requeue_stuck(),
    }
    if any(counts.values()):
        logger.info("payments sweep: %s", counts)
    return counts


def query_overdue_intents(limit: int = BATCH) -> int:
    """Order a status query for each requested intent past its deadline; returns how many."""
    with runtime.current().db.transaction() as session:
        query: Any = (select(PaymentIntent)
                      .where(PaymentIntent.status == REQUESTED,
                             PaymentIntent.deadline_at <= utcnow())
                      .order_by(PaymentIntent.deadline_at).limit(limit))
        # Two sweeps at once split the work instead of queuing behind each other.
        query = query.with_for_update(skip_locked=True)
        ordered = 0
        for intent in session.scalars(query):
            ordered += schedule_status_query(session, intent)
        return ordered
