"""A small local Daraja for tests: real sockets, scripted misbehaviour, recorded requests.

    with FakeDaraja() as fake:
        fake.set_behaviour(SLOW, path=STK_PUSH_PATH, times=1)
        provider = DarajaProvider(settings, base_url=fake.base_url)

Behaviours: NORMAL, MALFORMED (truncated JSON), INCOMPLETE (`{}` with 200), SLOW (answers
after `slow_seconds`), ERROR_500, RATE_LIMITED (429), UNAUTHORIZED (401 "Invalid Access
Token"; with times=1 it is the expired-token case), ALREADY_IN_PROCESS (500.001.1001) and
BAD_REQUEST (400 with an errorCode). Credentials are checked like Daraja does.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

NORMAL = "normal"
MALFORMED = "malformed"
INCOMPLETE = "incomplete"
SLOW = "slow"
ERROR_500 = "error_500"
RATE_LIMITED = "rate_limited"
UNAUTHORIZED = "unauthorized"
ALREADY_IN_PROCESS = "already_in_process"
BAD_REQUEST = "bad_request"

TOKEN_PATH = "/oauth/v1/generate"
STK_PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY_PATH = "/mpesa/stkpushquery/v1/query"
B2C_PATHS = ("/mpesa/b2c/v3/paymentrequest", "/mpesa/b2c/v1/paymentrequest")
STATUS_PATH = "/mpesa/transactionstatus/v1/query"
REVERSAL_PATH = "/mpesa/reversal/v1/request"
C2B_REGISTER_PATHS = ("/mpesa/c2b/v2/registerurl", "/mpesa/c2b/v1/registerurl")

Json = dict[str, Any]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_STATUS_LINES = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized",
                 404: "404 Not Found", 405: "405 Method Not Allowed",
                 429: "429 Too Many Requests", 500: "500 Internal Server Error"}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake received, as it arrived."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Json | None


@dataclass(slots=True)
class _Rule:
    behaviour: str
    path: str | None
    remaining: int | None

    def matches(self, path: str) -> bool:
        return self.path is None or self.path == path


@dataclass(slots=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"


def _json_answer(status: int, payload: Json) -> _Answer:
    return _Answer(status, json.dumps(payload).encode())


def _error(status: int, code: str, message: str) -> _Answer:
    return _json_answer(status, {"requestId": "fake-req", "errorCode": code,
                                 "errorMessage": message})


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    # Join handler threads on close, so no request outlives a test.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 64  # the default 5 drops connects when tests fire requests at once


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, fmt: str, *args: Any) -> None:
        """Keep test output clean; the fake records requests instead."""


class FakeDaraja:
    """A Daraja look-alike served by wsgiref on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        *,
        consumer_key: str = "fake-consumer-key",
        consumer_secret: str = "fake-consumer-secret",
        shortcode: str = "174379",
        passkey: str = "fake-passkey",
        token_ttl: int = 3599,
        slow_seconds: float = 5.0,
        port: int = 0,
    ) -> None:
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.shortcode, self.passkey = shortcode, passkey
        self.token_ttl, self.slow_seconds, self.port = token_ttl, slow_seconds, port
        self.stk_query_result = ("0", "The service request is processed successfully.")
        self.requests: list[RecordedRequest] = []
        self.issued_tokens: list[str] = []
        self._rules: list[_Rule] = []
        self._revoked: set[str] = set()
        self._conversations: dict[str, str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._server: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeDaraja:
        """Serve on 127.0.0.1 (the same port again after a stop, to play an outage)."""
        self._wake.clear()
        server = make_server("127.0.0.1", self.port, self._app,
                             server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        assert isinstance(server, _ThreadingWSGIServer)
        self._server, self.port = server, server.server_port
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-daraja", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake slow handlers, stop serving and close the socket."""
        self._wake.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeDaraja:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- scripting -------------------------------------------------------------------------

    def set_behaviour(self, behaviour: str, *, path: str | None = None,
                      times: int | None = None) -> None:
        """Answer requests to `path` (any API path if None) this way, `times` times or always."""
        with self._lock:
            self._rules.insert(0, _Rule(behaviour, path, times))

    def reset(self) -> None:
        """Back to normal behaviour, keeping what was recorded."""
        with self._lock:
            self._rules.clear()

    def revoke_tokens(self) -> None:
        """Expire every token issued so far, as Daraja does after an hour."""
        with self._lock:
            self._revoked.update(self.issued_tokens)

    def calls(self, *paths: str) -> list[RecordedRequest]:
        """The requests received on any of `paths`, in order."""
        with self._lock:
            return [r for r in self.requests if r.path in paths]

    def api_calls(self) -> list[RecordedRequest]:
        """Every request except token requests."""
        with self._lock:
            return [r for r in self.requests if r.path != TOKEN_PATH]

    # --- the WSGI app ----------------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = self._record(environ)
        answer = self._misbehave(request) or self._route(request)
        start_response(_STATUS_LINES.get(answer.status, f"{answer.status} Status"), [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
        ])
        return [answer.body]

    def _record(self, environ: dict[str, Any]) -> RecordedRequest:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        headers = {key[5:].replace("_", "-").title(): value
                   for key, value in environ.items() if key.startswith("HTTP_")}
        request = RecordedRequest(
            method=environ["REQUEST_METHOD"], path=environ.get("PATH_INFO", ""),
            query=parse_qs(environ.get("QUERY_STRING", "")), headers=headers, body=body,
            json=parsed if isinstance(parsed, dict) else None,
        )
        with self._lock:
            self.requests.append(request)
        return request

    def _take_rule(self, path: str) -> str | None:
        with self._lock:
            for rule in self._rules:
                # A token request cannot be "unauthorized": that needs a token first.
                if not rule.matches(path) or (path == TOKEN_PATH and rule.path is None):
                    continue
                if rule.remaining is not None:
                    if rule.remaining <= 0:
                        continue
                    rule.remaining -= 1
                return rule.behaviour
        return None

    def _misbehave(self, request: RecordedRequest) -> _Answer | None:
        behaviour = self._take_rule(request.path)
        if behaviour == SLOW:
            self._wake.wait(self.slow_seconds)
            return None
        return _MISBEHAVIOURS[behaviour]() if behaviour in _MISBEHAVIOURS else None

    def _route(self, request: RecordedRequest) -> _Answer:
        if request.path == TOKEN_PATH:
            return self._issue_token(request)
        handler = self._handlers().get(request.path)
        if handler is None:
            return _error(404, "404.001.01", "Resource not found")
        if request.method != "POST":
            return _error(405, "405.001.01", "Method not allowed")
        if not self._authorized(request):
            return _error(401, "404.001.03", "Invalid Access Token")
        if request.json is None:
            return _error(400, "400.002.02", "Bad Request - Invalid JSON")
        return handler(request.json)

    def _handlers(self) -> dict[str, Callable[[Json], _Answer]]:
        table: dict[str, Callable[[Json], _Answer]] = {
            STK_PUSH_PATH: self._stk_push,
            STK_QUERY_PATH: self._stk_query,
            STATUS_PATH: self._status,
            REVERSAL_PATH: self._reversal,
        }
        table.update(dict.fromkeys(B2C_PATHS, self._b2c))
        table.update(dict.fromkeys(C2B_REGISTER_PATHS, self._register))
        return table

    # --- endpoints -------------------------------------------------------------------------

    def _issue_token(self, request: RecordedRequest) -> _Answer:
        expected = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode())
        if request.headers.get("Authorization") != f"Basic {expected.decode()}":
            return _error(400, "400.008.01", "Invalid Authentication passed")
        if request.query.get("grant_type") != ["client_credentials"]:
            return _error(400, "400.008.02", "Invalid grant type passed")
        with self._lock:
            token = f"fake-token-{len(self.issued_tokens) + 1}"
            self.issued_tokens.append(token)
        # Daraja sends expires_in as a string.
        return _json_answer(200, {"access_token": token, "expires_in": str(self.token_ttl)})

    def _authorized(self, request: RecordedRequest) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        with self._lock:
            return scheme == "Bearer" and token in self.issued_tokens and token not in self._revoked

    def _password_ok(self, body: Json) -> bool:
        raw = f"{self.shortcode}{self.passkey}{body.get('Timestamp')}".encode()
        return body.get("Password") == base64.b64encode(raw).decode()

    def _stk_push(self, body: Json) -> _Answer:
        if not self._password_ok(body):
            return _error(400, "400.002.02", "Bad Request - Invalid Password")
        phone = str(body.get("PhoneNumber", ""))
        if not (phone.startswith("254") and len(phone) == 12 and phone.isdigit()):
            return _error(400, "400.002.02", "Bad Request - Invalid PhoneNumber")
        if not isinstance(body.get("Amount"), int) or body["Amount"] < 1:
            return _error(400, "400.002.02", "Bad Request - Invalid Amount")
        n = len(self.calls(STK_PUSH_PATH))
        return _json_answer(200, {
            "MerchantRequestID": f"fake-merchant-{n}",
            "CheckoutRequestID": f"ws_CO_{body.get('Timestamp')}{n:06d}",
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        })

    def _stk_query(self, body: Json) -> _Answer:
        if not self._password_ok(body):
            return _error(400, "400.002.02", "Bad Request - Invalid Password")
        code, description = self.stk_query_result
        return _json_answer(200, {
            "ResponseCode": "0",
            "ResponseDescription": "The service request has been accepted successsfully",
            "MerchantRequestID": "fake-merchant",
            "CheckoutRequestID": body.get("CheckoutRequestID"),
            "ResultCode": code,
            "ResultDesc": description,
        })

    def _conversation_for(self, originator: str) -> str:
        """The same OriginatorConversationID always gets the same ConversationID."""
        with self._lock:
            stamp = datetime.now(UTC).strftime("%Y%m%d")
            count = len(self._conversations) + 1
            return self._conversations.setdefault(originator, f"AG_{stamp}_fake{count:012d}")

    def _b2c(self, body: Json) -> _Answer:
        originator = body.get("OriginatorConversationID")
        if not isinstance(originator, str) or not originator:
            return _error(400, "400.002.02", "Bad Request - Invalid OriginatorConversationID")
        return self._accepted(originator)

    def _generated_originator(self) -> str:
        with self._lock:
            return f"fake-originator-{len(self.requests)}"

    def _status(self, body: Json) -> _Answer:
        # Its OriginatorConversationID names the transaction queried, not this request.
        return self._accepted(self._generated_originator())

    def _reversal(self, body: Json) -> _Answer:
        originator = body.get("OriginatorConversationID")
        if isinstance(originator, str) and originator:
            return self._accepted(originator)
        return self._accepted(self._generated_originator())

    def _accepted(self, originator: str) -> _Answer:
        return _json_answer(200, {
            "ConversationID": self._conversation_for(originator),
            "OriginatorConversationID": originator,
            "ResponseCode": "0",
            "ResponseDescription": "Accept the service request successfully.",
        })

    def _register(self, body: Json) -> _Answer:
        if body.get("ShortCode") != self.shortcode:
            return _error(400, "400.003.01", "Invalid ShortCode")
        return _json_answer(200, {"OriginatorCoversationID": "fake-register",  # sic
                                  "ResponseCode": "0", "ResponseDescription": "Success"})


_MISBEHAVIOURS: dict[str, Callable[[], _Answer]] = {
    MALFORMED: lambda: _Answer(200, b'{"ResponseCode": "0", "CheckoutRequestID": '),
    INCOMPLETE: lambda: _json_answer(200, {}),
    ERROR_500: lambda: _error(500, "500.003.02", "System is busy. Please try again."),
    RATE_LIMITED: lambda: _error(429, "429.001.01", "Too many requests"),
    UNAUTHORIZED: lambda: _error(401, "404.001.03", "Invalid Access Token"),
    ALREADY_IN_PROCESS: lambda: _error(
        500, "500.001.1001",
        "Unable to lock subscriber, a transaction is already in process for the current "
        "subscriber"),
    BAD_REQUEST: lambda: _error(400, "400.002.02", "Bad Request - Invalid PhoneNumber"),
}
