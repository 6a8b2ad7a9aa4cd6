"""Decisions people take on applications, the same from the console and the API.

Each one runs the lending service and writes its audit entry in the caller's
transaction, so a decision is never recorded without its trail, or the other
way round. Refusals (`LendingError`) are left for the caller to present.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.orm import Session

from gateway.ops_models import audit
from lending import applications
from lending.models import Loan

Decision = Literal["approve", "reject"]


def decide_application(session: Session, loan: Loan, decision: Decision, *, actor: str,
                       reason: str = "") -> Loan:
    """Approve or reject a pending application and audit it; the caller commits."""
    before = {"status": loan.status}
    if decision == "approve":
        decided = applications.approve_loan(session, loan.id, actor=actor)
    else:
        decided = applications.reject_loan(session, loan.id, actor=actor, reason=reason)
    audit(session, actor=actor, action=f"loan.{decision}", subject_type="loan",
          subject_id=decided.id, reason=reason, before=before, after={"status": decided.status})
    return decided
