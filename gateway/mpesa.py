"""M-Pesa (Daraja) callbacks: `/mpesa/<CALLBACK_TOKEN>/…` (CONTRACT, "Mobile money").

Thin: check the secret path token (and the optional IP allowlist), store the
raw body in the inbox, acknowledge, and leave the rest to an rq job. A wrong
token gets 404 and leaves only a log line. An unreadable body is kept (as a
`failed` inbox row, for an operator) and answered 400. A repeat of a stored
callback is acknowledged again: M-Pesa must stop resending it.
"""

from __future__ import annotations

import hmac
import json
import logging

from flask import Blueprint, Response, abort, jsonify, request

from gateway.database import get_runtime, get_session
from gateway.errors import json_error
from gateway.provider_guards import address_allowed
from payments.inbox import Unreadable, store_callback
from payments.processing import request_processing
from payments.providers.base import EventKind
from payments.validation import answer_validation

logger = logging.getLogger(__name__)
bp = Blueprint("mpesa", __name__, url_prefix="/mpesa")

PATHS: dict[str, EventKind] = {
    "stk": "stk",
    "c2b/validation": "c2b_validation",
    "c2b/confirmation": "c2b_confirmation",
    "b2c/result": "b2c_result",
    "b2c/timeout": "b2c_timeout",
    "status/result": "status_result",
    "status/timeout": "status_timeout",
    "reversal/result": "reversal_result",
    "reversal/timeout": "reversal_timeout",
}
ACK = {"ResultCode": 0, "ResultDesc": "Accepted"}
_ACK_BODY = json.dumps(ACK)  # serialised once: this answer goes out hundreds of times a second


def _token_ok(token: str) -> bool:
    expected = get_runtime().settings.callback_token
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


def _address_ok(address: str | None) -> bool:
    return address_allowed(address, get_runtime().settings.mpesa_ip_allowlist)


@bp.post("/<token>/<path:callback>")
def receive(token: str, callback: str) -> Response | tuple[Response, int]:
    """Store an M-Pesa callback raw, acknowledge it, and queue its processing."""
    if not _token_ok(token):
        logger.warning("mpesa callback with a wrong token on /%s", callback)
        abort(404)
    kind = PATHS.get(callback)
    if kind is None:
        abort(404)
    if not _address_ok(request.remote_addr):
        logger.warning("mpesa callback from a non-allowlisted address on /%s", callback)
        abort(403)
    raw = request.get_data(cache=False).decode("utf-8", errors="replace")
    session = get_session()
    try:
        stored = store_callback(session, kind, raw, request.remote_addr)
    except Unreadable as exc:
        return json_error(400, "malformed_callback", str(exc))
    if kind == "c2b_validation":
        return jsonify(answer_validation(session, stored.inbox_id))
    if stored.created:
        request_processing()
    return Response(_ACK_BODY, mimetype="application/json")
