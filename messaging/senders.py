"""Who carries an SMS to a phone: Africa's Talking in production, the simulator otherwise."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from core.money import round_half_even, unit
from core.outbox import TransientError
from core.phones import mask_phone
from core.settings import Settings
from messaging.models import FAILED, REJECTED, SENT, SUCCESS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    """What the provider said about one message."""

    status: str
    provider_message_id: str | None = None
    cost: str | None = None
    failure_reason: str | None = None
    permanent: bool = False


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> SendResult:
        """Hand one message to the provider; raise TransientError to be retried later."""
        ...


Transport = Callable[[str, list[str], str | None], Any]
"""The SDK call `SMS.send(message, recipients, sender_id)`; tests inject their own."""

_E164 = re.compile(r"^\+\d{7,15}$")
ACCEPTED = {100: "Processed", 101: "Sent", 102: "Queued"}
TRANSIENT = {
    405: "InsufficientBalance",  # succeeds once the account is topped up
    407: "CouldNotRoute",
    500: "InternalServerError",
    501: "GatewayError",
}
PERMANENT = {
    401: ("RiskHold", FAILED),
    402: ("InvalidSenderId", FAILED),
    403: ("InvalidPhoneNumber", FAILED),
    404: ("UnsupportedNumberType", FAILED),
    406: ("UserInBlacklist", REJECTED),
    409: ("DoNotDisturbRejection", REJECTED),
    502: ("RejectedByGateway", REJECTED),
}


class AfricasTalkingSender:
    """Send through the africastalking SDK, one recipient per call."""

    def __init__(self, settings: Settings, transport: Transport | None = None) -> None:
        self.sender_id = settings.at_sender_id or None
        self._transport = transport or _sdk_transport(settings.at_username, settings.at_api_key)

    def send(self, to: str, body: str) -> SendResult:
        if not _E164.match(to):
            return SendResult(FAILED, failure_reason="InvalidPhoneNumber", permanent=True)
        try:
            response = self._transport(body, [to], self.sender_id)
        except TransientError:
            raise
        except Exception as exc:  # noqa: BLE001 - network errors, HTTP errors, timeouts
            # The SDK raises plain exceptions for HTTP errors and requests' for the network;
            # neither says the number is bad, so both are worth another try.
            raise TransientError(f"africastalking: {type(exc).__name__}") from exc
        return self._interpret(to, _recipient(response))

    @staticmethod
    def _interpret(to: str, recipient: dict[str, Any]) -> SendResult:
        code = _int(recipient.get("statusCode"))
        message_id = recipient.get("messageId") or None
        cost = recipient.get("cost") or None
        if code in ACCEPTED:
            return SendResult(SENT, message_id, cost)
        if code in PERMANENT:
            reason, status = PERMANENT[code]
            logger.warning("sms to %s refused: %s", mask_phone(to), reason)
            return SendResult(status, None, cost, reason, permanent=True)
        reason = TRANSIENT.get(code or 0) or str(recipient.get("status") or f"status {code}")
        raise TransientError(f"africastalking: {reason}")


def _sdk_transport(username: str, api_key: str) -> Transport:
    """The real SDK call, behind the one seam tests replace."""

    def send(message: str, recipients: list[str], sender_id: str | None) -> Any:
        import africastalking

        if africastalking.SMS is None:
            africastalking.initialize(username, api_key)
        return africastalking.SMS.send(message, recipients, sender_id)

    return send


def _recipient(response: Any) -> dict[str, Any]:
    """The one recipient entry of an SMS.send response (a dict, or JSON text)."""
    if isinstance(response, str | bytes):
        try:
            response = json.loads(response)
        except ValueError as exc:
            raise TransientError("africastalking: unreadable response") from exc
    try:
        recipients = response["SMSMessageData"]["Recipients"]
    except (KeyError, TypeError) as exc:
        raise TransientError("africastalking: response without recipients") from exc
    if not recipients:
        # AT answers with no recipients when it refuses the whole request (e.g. bad
        # sender id); the message in SMSMessageData says why but not whether it is final.
        raise TransientError("africastalking: no recipient accepted")
    first: dict[str, Any] = recipients[0]
    return first


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def cost_minor(cost: str | None) -> int | None:
    """`KES 0.8000` -> 80 (minor units, half-even); None when there is nothing to parse."""
    if not cost:
        return None
    parts = cost.split()
    currency, amount = (parts[0], parts[-1]) if len(parts) == 2 else ("KES", parts[-1])
    try:
        return round_half_even(Decimal(amount) * unit(currency))
    except InvalidOperation:
        return None


class SimulatorSender:
    """Deliver at once; the message row itself is the phone simulator's inbox."""

    def send(self, to: str, body: str) -> SendResult:
        return SendResult(SUCCESS, f"SIM-{uuid.uuid4().hex[:20]}", "KES 0.0000")


_override: SmsSender | None = None


def use_sender(sender: SmsSender | None) -> SmsSender | None:
    """Send through `sender` in this process (tests, demos); returns the previous one."""
    global _override
    previous, _override = _override, sender
    return previous


def sender_for(settings: Settings) -> SmsSender:
    """The sender the settings ask for (`SMS_PROVIDER`)."""
    if _override is not None:
        return _override
    if settings.sms_provider == "africastalking":
        return AfricasTalkingSender(settings)
    return SimulatorSender()
