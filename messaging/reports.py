"""Delivery reports: stored raw first, then applied to the message they are about."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.phones import mask_phone
from messaging.models import (
    BUFFERED,
    FAILED,
    QUEUED,
    REJECTED,
    SENT,
    SUBMITTED,
    SUCCESS,
    SmsDeliveryReport,
    SmsMessage,
)

logger = logging.getLogger(__name__)

AT_STATUSES = {
    "Sent": SENT, "Submitted": SUBMITTED, "Buffered": BUFFERED,
    "Rejected": REJECTED, "Success": SUCCESS, "Failed": FAILED,
}
_RANK = {QUEUED: 0, SENT: 1, SUBMITTED: 2, BUFFERED: 3, SUCCESS: 4, FAILED: 4, REJECTED: 4}
"""Reports arrive out of order; a message only ever moves to a later stage."""


class InvalidReport(ValueError):
    """A delivery report without the fields we need."""


@dataclass(frozen=True)
class ReportForm:
    provider_message_id: str
    status: str
    phone: str | None
    network_code: str | None
    failure_reason: str | None
    retry_count: int

    @classmethod
    def parse(cls, form: Mapping[str, str]) -> ReportForm:
        """Validate AT's form fields (CONTRACT: `id`, `status`, … `retryCount`)."""
        message_id, status = (form.get("id") or "").strip(), (form.get("status") or "").strip()
        if not message_id or len(message_id) > 64:
            raise InvalidReport("id is required")
        if status not in AT_STATUSES:
            raise InvalidReport("status is not one Africa's Talking sends")
        retry = (form.get("retryCount") or "0").strip()
        return cls(
            provider_message_id=message_id, status=status,
            phone=(form.get("phoneNumber") or None), network_code=form.get("networkCode"),
            failure_reason=(form.get("failureReason") or None),
            retry_count=int(retry) if retry.isdigit() else 0,
        )


def record_delivery_report(session: Session, report: ReportForm) -> SmsDeliveryReport | None:
    """Store a report raw and apply it; a duplicate (same id and status) changes nothing.

    Applying is one indexed UPDATE with no provider call, so it happens in the
    storing transaction: nothing can be stored yet left unapplied.
    """
    row = SmsDeliveryReport(
        provider_message_id=report.provider_message_id, status=report.status,
        phone=report.phone, network_code=report.network_code,
        failure_reason=(report.failure_reason or None) and report.failure_reason[:80],
        retry_count=report.retry_count, received_at=utcnow(), matched=False,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    message = session.scalar(
        select(SmsMessage).where(SmsMessage.provider_message_id == report.provider_message_id)
    )
    if message is None:
        # Kept: the send may not have recorded its provider id yet (apply_stored_reports).
        logger.warning("delivery report for unknown message %s (%s)",
                       report.provider_message_id, mask_phone(report.phone or ""))
        return row
    _apply(message, row)
    return row


def apply_stored_reports(session: Session, message: SmsMessage) -> None:
    """Apply reports that arrived before the send recorded the provider's message id."""
    reports = session.scalars(
        select(SmsDeliveryReport)
        .where(SmsDeliveryReport.provider_message_id == message.provider_message_id,
               SmsDeliveryReport.matched.is_(False))
        .order_by(SmsDeliveryReport.id)
    )
    for report in reports:
        _apply(message, report)


def apply_stored_reports_to(session: Session, messages: list[SmsMessage]) -> None:
    """`apply_stored_reports` for many messages just sent, in one query."""
    by_id = {m.provider_message_id: m for m in messages if m.provider_message_id}
    if not by_id:
        return
    reports = session.scalars(
        select(SmsDeliveryReport)
        .where(SmsDeliveryReport.provider_message_id.in_(list(by_id)),
               SmsDeliveryReport.matched.is_(False))
        .order_by(SmsDeliveryReport.id)
    )
    for report in reports:
        _apply(by_id[report.provider_message_id], report)


def _apply(message: SmsMessage, report: SmsDeliveryReport) -> None:
    report.matched = True
    status = AT_STATUSES[report.status]
    if _RANK[status] <= _RANK.get(message.status, 4):
        return
    message.status = status
    message.retry_count = report.retry_count
    if status == SUCCESS:
        message.delivered_at = report.received_at
    elif status in (FAILED, REJECTED):
        message.failure_reason = report.failure_reason
