"""Safaricom M-Pesa Daraja: STK push, B2C, Transaction Status, Reversal and C2B registration.

Retry rules: a request that moves money (STK push, B2C, reversal) is repeated here only
when it surely never reached Daraja (connection refused or not established). Any other
failure raises TransientError; the outbox retries later with the same idempotency key and
a status query settles what happened. Queries are repeated on 5xx/429 and timeouts too.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

import httpx

from core.clock import Clock, get_clock
from core.outbox import PermanentError, TransientError
from core.phones import mask_phone, mask_phones_in, msisdn
from core.settings import Settings
from payments.providers.base import (
    CENTS_PER_SHILLING,
    NAIROBI,
    C2BRegistered,
    DisbursementRequested,
    InvalidRequest,
    Json,
    MalformedCallback,
    PaymentRequested,
    ReversalRequested,
    StatusAnswer,
)
from payments.providers.parsing import (
    outcome_for,
    parse_async_answer,
    parse_c2b_register_answer,
    parse_stk_push_answer,
    parse_stk_query_answer,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

BASE_URLS = {
    "sandbox": "https://sandbox.safaricom.co.ke",
    "production": "https://api.safaricom.co.ke",
}
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
ALREADY_IN_PROCESS = "500.001.1001"
# Daraja answers a stale bearer token with this code (sometimes under HTTP 404, not 401).
INVALID_TOKEN_CODES = frozenset({"404.001.03", "404.001.04"})
TOKEN_PATH = "/oauth/v1/generate"

# Exceptions raised before a single byte of the request left this process.
_NOT_SENT: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout,
                                          httpx.PoolTimeout)


class AlreadyInProcess(TransientError):
    """Daraja is still processing a transaction for this subscriber or checkout."""


class _Endpoint(NamedTuple):
    operation: str
    path: str
    safe_to_repeat: bool


STK_PUSH = _Endpoint("STK push", "/mpesa/stkpush/v1/processrequest", False)
STK_QUERY = _Endpoint("STK query", "/mpesa/stkpushquery/v1/query", True)
B2C = _Endpoint("B2C payment", "/mpesa/b2c/v3/paymentrequest", False)
TRANSACTION_STATUS = _Endpoint("transaction status", "/mpesa/transactionstatus/v1/query", True)
REVERSAL = _Endpoint("reversal", "/mpesa/reversal/v1/request", False)
C2B_REGISTER = _Endpoint("C2B URL registration", "/mpesa/c2b/v2/registerurl", True)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times, and how patiently, to repeat a request that may be repeated."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 4.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), doubling each time."""
        return min(self.base_delay * 2 ** (attempt - 1), self.max_delay)


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: datetime


def whole_shillings(amount: int) -> int:
    """M-Pesa moves whole shillings: refuse minor-unit amounts with cents, or non-positive."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidRequest(f"amount must be integer minor units, not {amount!r}")
    shillings, cents = divmod(amount, CENTS_PER_SHILLING)
    if cents:
        raise InvalidRequest(
            f"M-Pesa takes whole shillings: {amount} cents is KES {shillings}.{cents:02d}"
        )
    if shillings < 1:
        raise InvalidRequest(f"amount must be at least KES 1, not {amount} cents")
    return shillings


def mpesa_msisdn(phone: str) -> str:
    """The `254XXXXXXXXX` form of a Kenyan E.164 number; refuse anything else."""
    if not (phone.startswith("+254") and len(phone) == 13 and phone[1:].isdigit()):
        raise InvalidRequest(f"M-Pesa needs a Kenyan E.164 number, not {mask_phone(phone)}")
    return msisdn(phone)


def stk_password(shortcode: str, passkey: str, timestamp: str) -> str:
    """Daraja's STK password: base64 of shortcode + passkey + timestamp."""
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode("ascii")


class DarajaProvider:
    """The M-Pesa Daraja REST API behind the MobileMoneyProvider interface."""

    name = "daraja"

    def __init__(
        self,
        settings: Settings,
        client: httpx.Client | None = None,
        *,
        clock: Clock | None = None,
        base_url: str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout)
        self._timeout = timeout  # per request, so it holds for a client passed in too
        self._clock = clock
        self._base_url = (base_url or BASE_URLS[settings.mpesa_env]).rstrip("/")
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._token: _Token | None = None
        self._token_lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP client if this provider created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> DarajaProvider:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the MobileMoneyProvider interface ------------------------------------------------

    def request_payment(
        self, *, phone: str, amount: int, reference: str, description: str, idempotency_key: str
    ) -> PaymentRequested:
        """Send an STK push asking `phone` to pay `amount` minor units into our paybill."""
        number, shillings = mpesa_msisdn(phone), whole_shillings(amount)
        if not 0 < len(reference) <= 12:
            raise InvalidRequest("M-Pesa's AccountReference takes 1 to 12 characters")
        shortcode = self._settings.mpesa_shortcode
        payload = {
            **self._stk_credentials(),
            "TransactionType": "CustomerPayBillOnline",
            "Amount": shillings,
            "PartyA": number,
            "PartyB": shortcode,
            "PhoneNumber": number,
            "CallBackURL": self.callback_url("stk"),
            "AccountReference": reference,
            # Daraja caps TransactionDesc at 13 characters; it is display text only.
            "TransactionDesc": (description or reference)[:13],
        }
        answer = self._parsed(STK_PUSH, payload, parse_stk_push_answer)
        logger.info("STK push %s to %s accepted as %s", idempotency_key, mask_phone(phone),
                    answer.checkout_request_id)
        return answer

    def disburse(
        self, *, phone: str, amount: int, reference: str, idempotency_key: str
    ) -> DisbursementRequested:
        """Send a B2C payment; our idempotency key is Daraja's OriginatorConversationID."""
        payload = {
            "OriginatorConversationID": idempotency_key,
            "InitiatorName": self._settings.mpesa_initiator_name,
            "SecurityCredential": self._settings.mpesa_security_credential,
            "CommandID": "BusinessPayment",
            "Amount": whole_shillings(amount),
            "PartyA": self._b2c_shortcode(),
            "PartyB": mpesa_msisdn(phone),
            "Remarks": reference[:100] or "Mkopo disbursement",
            "QueueTimeOutURL": self.callback_url("b2c/timeout"),
            "ResultURL": self.callback_url("b2c/result"),
            "Occassion": reference[:100],  # sic: Daraja's spelling
        }
        _, conversation_id, text = self._parsed(B2C, payload, self._async_answer(B2C))
        logger.info("B2C %s to %s accepted as %s", idempotency_key, mask_phone(phone),
                    conversation_id)
        return DisbursementRequested(idempotency_key, conversation_id, text)

    def query_status(
        self,
        *,
        checkout_request_id: str | None = None,
        receipt: str | None = None,
        originator_conversation_id: str | None = None,
        shortcode: str | None = None,
    ) -> StatusAnswer:
        """STK query for a checkout id; otherwise a Transaction Status query (answer follows)."""
        if checkout_request_id is not None:
            if receipt is not None or originator_conversation_id is not None:
                raise InvalidRequest("query a checkout id, or a receipt / originator id, not both")
            return self._query_stk(checkout_request_id)
        if receipt is None and originator_conversation_id is None:
            raise InvalidRequest("a status query needs a checkout id, receipt or originator id")
        return self._query_transaction(receipt, originator_conversation_id, shortcode)

    def reverse(
        self, *, receipt: str, amount: int, reason: str, idempotency_key: str
    ) -> ReversalRequested:
        """Ask M-Pesa to reverse transaction `receipt` of `amount` minor units."""
        payload = {
            **self._initiator(),
            # Not in every Daraja version's reversal spec; sent so the result echoes our key.
            "OriginatorConversationID": idempotency_key,
            "CommandID": "TransactionReversal",
            "TransactionID": receipt,
            "Amount": whole_shillings(amount),
            "ReceiverParty": self._settings.mpesa_shortcode,
            "RecieverIdentifierType": "11",  # sic: Daraja's spelling; 11 = organisation
            "ResultURL": self.callback_url("reversal/result"),
            "QueueTimeOutURL": self.callback_url("reversal/timeout"),
            "Remarks": reason[:100] or "Reversal",
            "Occasion": idempotency_key[:100],
        }
        originator, conversation_id, text = self._parsed(
            REVERSAL, payload, self._async_answer(REVERSAL))
        logger.info("reversal %s of %s accepted as %s", idempotency_key, receipt, conversation_id)
        return ReversalRequested(originator, conversation_id, text)

    def register_c2b_urls(self) -> C2BRegistered:
        """Register our C2B validation and confirmation URLs for the paybill."""
        payload = {
            "ShortCode": self._settings.mpesa_shortcode,
            # Completed: if our validation URL is down, M-Pesa still takes the money and
            # the confirmation (or the statement import) lands it in suspense, not lost.
            "ResponseType": "Completed",
            "ConfirmationURL": self.callback_url("c2b/confirmation"),
            "ValidationURL": self.callback_url("c2b/validation"),
        }
        registered = self._parsed(C2B_REGISTER, payload, parse_c2b_register_answer)
        logger.info("C2B URLs registered for shortcode %s", self._settings.mpesa_shortcode)
        return registered

    def callback_url(self, suffix: str) -> str:
        """The URL Daraja calls back on; the secret token is a path segment (CONTRACT)."""
        base = self._settings.public_base_url.rstrip("/")
        return f"{base}/mpesa/{self._settings.callback_token}/{suffix}"

    # --- request building ------------------------------------------------------------------

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def _stk_credentials(self) -> Json:
        shortcode = self._settings.mpesa_shortcode
        timestamp = self._now().astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")
        return {
            "BusinessShortCode": shortcode,
            "Password": stk_password(shortcode, self._settings.mpesa_passkey, timestamp),
            "Timestamp": timestamp,
        }

    def _initiator(self) -> Json:
        return {
            "Initiator": self._settings.mpesa_initiator_name,
            "SecurityCredential": self._settings.mpesa_security_credential,
        }

    def _b2c_shortcode(self) -> str:
        return self._settings.mpesa_b2c_shortcode or self._settings.mpesa_shortcode

    def _query_stk(self, checkout_request_id: str) -> StatusAnswer:
        payload = {**self._stk_credentials(), "CheckoutRequestID": checkout_request_id}
        try:
            return self._parsed(STK_QUERY, payload, parse_stk_query_answer)
        except AlreadyInProcess as exc:
            # Daraja's way of saying "the customer has not answered yet".
            meaning = outcome_for(ALREADY_IN_PROCESS)
            return StatusAnswer(checkout_request_id, meaning.outcome, ALREADY_IN_PROCESS,
                                str(exc), meaning.reason)

    def _query_transaction(
        self, receipt: str | None, originator_id: str | None, shortcode: str | None
    ) -> StatusAnswer:
        party = shortcode or (self._settings.mpesa_shortcode if receipt
                              else self._b2c_shortcode())
        payload = {
            **self._initiator(),
            "CommandID": "TransactionStatusQuery",
            "TransactionID": receipt or "",
            "OriginatorConversationID": originator_id or "",
            "PartyA": party,
            "IdentifierType": "4",  # 4 = organisation shortcode
            "ResultURL": self.callback_url("status/result"),
            "QueueTimeOutURL": self.callback_url("status/timeout"),
            "Remarks": "Mkopo status check",
            "Occasion": "",
        }
        originator, conversation_id, text = self._parsed(
            TRANSACTION_STATUS, payload, self._async_answer(TRANSACTION_STATUS))
        return StatusAnswer(
            subject_id=receipt or originator_id or "",
            outcome="pending",
            result_code=None,
            description=text,
            reason="the answer follows at status/result",
            conversation_id=conversation_id,
            originator_conversation_id=originator,
        )

    @staticmethod
    def _async_answer(endpoint: _Endpoint) -> Callable[[Json], tuple[str, str, str]]:
        return lambda body: parse_async_answer(body, f"{endpoint.operation} answer")

    # --- transport -------------------------------------------------------------------------

    def _parsed(self, endpoint: _Endpoint, payload: Json, parse: Callable[[Json], T]) -> T:
        """POST and parse the answer; an answer we cannot read is transient, not final."""
        body = self._post(endpoint, payload)
        try:
            return parse(body)
        except MalformedCallback as exc:
            raise TransientError(f"{endpoint.operation}: malformed Daraja answer: {exc}") from exc

    def _post(self, endpoint: _Endpoint, payload: Json) -> Json:
        """POST with a bearer token, refreshing it once if Daraja calls it stale."""
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            token = self._access_token()
            response = self._send(endpoint, attempt, "POST", endpoint.path, json=payload,
                                  headers={"Authorization": f"Bearer {token}"})
            if response is None:
                continue
            if _token_rejected(response) and not refreshed:
                # A token can expire early on Daraja's side; a 401 is never processed.
                refreshed, attempt = True, attempt - 1
                self._forget_token(token)
                logger.info("%s: Daraja rejected the access token; refreshing", endpoint.operation)
                continue
            if self._should_repeat(endpoint, response, attempt):
                self._pause(endpoint, attempt, f"HTTP {response.status_code}")
                continue
            return _answer_body(endpoint, response)

    def _send(
        self, endpoint: _Endpoint, attempt: int, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        """One HTTP exchange; None means "repeat it", after the back-off pause."""
        try:
            return self._client.request(method, self._base_url + path, timeout=self._timeout,
                                        **kwargs)
        except _NOT_SENT as exc:
            if attempt < self._retry.attempts:
                self._pause(endpoint, attempt, type(exc).__name__)
                return None
            raise TransientError(
                f"{endpoint.operation}: Daraja unreachable after {attempt} attempts "
                f"({type(exc).__name__})") from exc
        except httpx.RequestError as exc:
            if endpoint.safe_to_repeat and attempt < self._retry.attempts:
                self._pause(endpoint, attempt, type(exc).__name__)
                return None
            # The request may have reached Daraja: only a status query can tell.
            raise TransientError(
                f"{endpoint.operation}: no answer from Daraja ({type(exc).__name__}); "
                "the outcome is unknown") from exc

    def _should_repeat(self, endpoint: _Endpoint, response: httpx.Response, attempt: int) -> bool:
        retryable = response.status_code == 429 or response.status_code >= 500
        return (endpoint.safe_to_repeat and retryable and attempt < self._retry.attempts
                and _error_code(response) != ALREADY_IN_PROCESS)

    def _pause(self, endpoint: _Endpoint, attempt: int, why: str) -> None:
        delay = self._retry.delay(attempt)
        logger.warning("%s attempt %s failed (%s); retrying in %.2fs", endpoint.operation,
                       attempt, why, delay)
        self._sleep(delay)

    # --- OAuth -----------------------------------------------------------------------------

    def _access_token(self) -> str:
        """A cached bearer token, fetched again shortly before it expires (thread-safe)."""
        with self._token_lock:
            now = self._now()
            if self._token is None or now >= self._token.refresh_at:
                self._token = self._fetch_token(now)
            return self._token.value

    def _forget_token(self, stale: str) -> None:
        with self._token_lock:
            # Another thread may already have replaced it; keep the fresh one.
            if self._token is not None and self._token.value == stale:
                self._token = None

    def _fetch_token(self, now: datetime) -> _Token:
        endpoint = _Endpoint("OAuth token", TOKEN_PATH, True)
        auth = (self._settings.mpesa_consumer_key, self._settings.mpesa_consumer_secret)
        attempt = 0
        while True:
            attempt += 1
            response = self._send(endpoint, attempt, "GET", TOKEN_PATH, auth=auth,
                                  params={"grant_type": "client_credentials"})
            if response is None:
                continue
            if self._should_repeat(endpoint, response, attempt):
                self._pause(endpoint, attempt, f"HTTP {response.status_code}")
                continue
            break
        if response.status_code in (400, 401, 403):
            # Wrong or revoked consumer key/secret: an operator must fix the settings; the
            # outbox keeps the request until then.
            raise TransientError(f"OAuth token: Daraja refused the consumer key and secret "
                                 f"(HTTP {response.status_code})")
        return _token_from(endpoint, _answer_body(endpoint, response), now)


def _token_from(endpoint: _Endpoint, body: Json, now: datetime) -> _Token:
    value, expires_in = body.get("access_token"), body.get("expires_in")
    try:
        seconds = int(str(expires_in))  # Daraja sends "3599", a string
    except ValueError:
        seconds = 0
    if not isinstance(value, str) or not value or seconds <= 0:
        raise TransientError(f"{endpoint.operation}: malformed Daraja answer: "
                             "no access_token / expires_in")
    # Refresh a minute early so a token never expires between our check and Daraja's.
    margin = min(60, seconds // 2)
    return _Token(value, now + timedelta(seconds=seconds - margin))


def _json_or_none(response: httpx.Response) -> Json | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error_code(response: httpx.Response) -> str | None:
    body = _json_or_none(response)
    code = None if body is None else body.get("errorCode")
    return code if isinstance(code, str) else None


def _token_rejected(response: httpx.Response) -> bool:
    return response.status_code == 401 or _error_code(response) in INVALID_TOKEN_CODES


def _answer_body(endpoint: _Endpoint, response: httpx.Response) -> Json:
    """The JSON object of a 2xx answer; otherwise the error, classified for the outbox."""
    body = _json_or_none(response)
    if response.is_success:
        if body is None:
            raise TransientError(f"{endpoint.operation}: malformed Daraja answer "
                                 f"(HTTP {response.status_code}, not a JSON object)")
        return body
    raise _http_error(endpoint, response.status_code, body or {})


def _http_error(endpoint: _Endpoint, status: int, body: Json) -> Exception:
    code, message = body.get("errorCode"), body.get("errorMessage")
    detail = mask_phones_in(f"{code}: {message}" if code else "no error details")
    text = f"{endpoint.operation}: Daraja answered HTTP {status} ({detail})"
    if code == ALREADY_IN_PROCESS:
        return AlreadyInProcess(text)
    if status in (401, 408, 429) or status >= 500 or code in INVALID_TOKEN_CODES:
        return TransientError(text)
    return PermanentError(text)
