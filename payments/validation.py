"""C2B validation: M-Pesa asks, synchronously, whether to accept a paybill payment.

By default every payment is accepted: CONTRACT sends whatever matches no loan
to suspense at confirmation, so nobody's money is turned away by a typo. With
MPESA_C2B_VALIDATION=reject_unknown the business chooses to refuse accounts
that name no loan and no borrower's phone.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from core.clock import utcnow
from payments import kinds
from payments.config import REJECT_UNKNOWN, config
from payments.models import PROCESSED, RECEIVED, CallbackInbox
from payments.providers.base import MalformedCallback
from payments.providers.parsing import parse_c2b

ACCEPTED: dict[str, Any] = {"ResultCode": 0, "ResultDesc": "Accepted"}
REJECTED: dict[str, Any] = {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}


def answer_validation(session: Session, inbox_id: int) -> dict[str, Any]:
    """Decide on a stored validation request and mark it processed; returns M-Pesa's answer."""
    inbox = session.get(CallbackInbox, inbox_id)
    assert inbox is not None
    answer = ACCEPTED
    if config().c2b_validation == REJECT_UNKNOWN:
        try:
            event = parse_c2b(json.loads(inbox.raw), "c2b_validation")
        except (MalformedCallback, ValueError):
            event = None
        if event is not None and not kinds.paybill().knows(session, event.account_reference):
            answer = REJECTED
    if inbox.status == RECEIVED:
        inbox.status, inbox.processed_at = PROCESSED, utcnow()
        inbox.error = None if answer is ACCEPTED else "rejected: unknown account"
    session.commit()
    return answer
