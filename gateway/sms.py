"""Africa's Talking SMS callbacks: inbound messages, delivery reports, opt-outs."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from core.phones import InvalidPhoneNumber, mask_phone, normalize_phone
from gateway.database import get_runtime, get_session
from gateway.provider_guards import require_africas_talking
from messaging.inbound import InboundForm, InvalidInbound, store_inbound
from messaging.optouts import AT_OPT_OUT, opt_out
from messaging.reports import InvalidReport, ReportForm, record_delivery_report

logger = logging.getLogger(__name__)

bp = Blueprint("sms", __name__, url_prefix="/sms")
bp.before_request(require_africas_talking)


def _ok() -> Response:
    return Response("OK", status=200, mimetype="text/plain")


def _bad(reason: str) -> Response:
    logger.info("sms callback %s rejected: %s", request.path, reason)
    return Response(f"400 Bad Request: {reason}\n", status=400, mimetype="text/plain")


@bp.post("/inbound")
def inbound() -> Response:
    """Store an inbound SMS (once per `id`); a job answers it."""
    try:
        form = InboundForm.parse(request.form)
    except InvalidInbound as exc:
        return _bad(str(exc))
    session = get_session()
    store_inbound(session, form)
    session.commit()
    return _ok()


@bp.post("/delivery-reports")
def delivery_report() -> Response:
    """Store a delivery report and move its message on."""
    try:
        report = ReportForm.parse(request.form)
    except InvalidReport as exc:
        return _bad(str(exc))
    session = get_session()
    record_delivery_report(session, report)
    session.commit()
    return _ok()


@bp.post("/opt-out")
def opt_out_callback() -> Response:
    """Record a phone that opted out of our sender id with the telco."""
    raw = (request.form.get("phoneNumber") or "").strip()
    if not raw:
        return _bad("phoneNumber is required")
    try:
        phone = normalize_phone(raw, get_runtime().settings.default_region)
    except InvalidPhoneNumber:
        logger.warning("opt-out for unreadable number %s", mask_phone(raw))
        return _ok()  # nothing we could ever send to; retrying will not change that
    session = get_session()
    opt_out(session, phone, AT_OPT_OUT)
    session.commit()
    return _ok()
