"""Periodic impact work (gateway.periodic): invite the members due a survey, by SMS."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from core import runtime
from core.clock import utcnow
from impact.panel import invite_due_members
from lending.models import Member
from messaging.outbound import queue_sms

logger = logging.getLogger(__name__)

INVITATION_TEMPLATE = "survey_invitation"


def send_invitations(session: Session, now: datetime, tz: str) -> int:
    """Make today's invitations and queue their SMS in the same transaction."""
    made = invite_due_members(session, now, tz)
    for invitation in made:
        member = session.get(Member, invitation.member_id)
        assert member is not None
        queue_sms(session, member.phone, INVITATION_TEMPLATE, member.language,
                  {"first_name": member.first_name}, key=f"survey:{invitation.key}")
    return len(made)


def run_invitations() -> int:
    """The daily invitation run (an rq job); idempotent through the invitations' keys."""
    rt = runtime.current()
    with rt.db.transaction() as session:
        count = send_invitations(session, utcnow(), rt.settings.timezone)
    logger.info("impact survey invitations sent: %d", count)
    return count
