"""The Daraja adapter against a local fake Daraja, over real sockets."""

from __future__ import annotations

import base64
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from core.clock import FrozenClock
from core.outbox import PermanentError, TransientError
from core.settings import Settings
from payments.providers.base import InvalidRequest, MobileMoneyProvider
from payments.providers.daraja import AlreadyInProcess, DarajaProvider, RetryPolicy

from support.fakes_daraja import (  # tests/ is on sys.path (rootdir conftest)
    ALREADY_IN_PROCESS,
    B2C_PATHS,
    BAD_REQUEST,
    ERROR_500,
    INCOMPLETE,
    MALFORMED,
    RATE_LIMITED,
    REVERSAL_PATH,
    SLOW,
    STATUS_PATH,
    STK_PUSH_PATH,
    STK_QUERY_PATH,
    TOKEN_PATH,
    UNAUTHORIZED,
    FakeDaraja,
)

KEY, SECRET, SHORTCODE, PASSKEY = "ck-test", "cs-test", "174379", "pk-test"
TOKEN = "cb-secret-token"
BASE = "https://mkopo.example"
PHONE = "+254711000101"
B2C_PATH = B2C_PATHS[0]
# 06:15:30 UTC is 09:15:30 in Nairobi (UTC+3).
NOW = datetime(2026, 11, 28, 6, 15, 30, tzinfo=UTC)
READ_TIMEOUT = 0.4


class Sleeps(list[float]):
    """Records back-off pauses instead of sleeping, so retry tests are fast and exact."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake() -> Iterator[FakeDaraja]:
    with FakeDaraja(consumer_key=KEY, consumer_secret=SECRET, shortcode=SHORTCODE,
                    passkey=PASSKEY, slow_seconds=3.0) as server:
        yield server


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def settings() -> Settings:
    return Settings(
        env="test", mpesa_consumer_key=KEY, mpesa_consumer_secret=SECRET,
        mpesa_shortcode=SHORTCODE, mpesa_passkey=PASSKEY, mpesa_b2c_shortcode="600000",
        mpesa_initiator_name="mkopo-api", mpesa_security_credential="enc-credential",
        public_base_url=BASE + "/", callback_token=TOKEN,
    )


@pytest.fixture
def provider(
    fake: FakeDaraja, clock: FrozenClock, settings: Settings, sleeps: Sleeps
) -> Iterator[DarajaProvider]:
    with DarajaProvider(
        settings, clock=clock, base_url=fake.base_url, sleep=sleeps,
        timeout=httpx.Timeout(READ_TIMEOUT, connect=1.0),
        retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02),
    ) as daraja:
        yield daraja


def pay(provider: DarajaProvider, key: str = "mkopo-pay-1", amount: int = 45_000) -> str:
    return provider.request_payment(phone=PHONE, amount=amount, reference="L1042",
                                    description="Loan repayment", idempotency_key=key
                                    ).checkout_request_id


def disburse(provider: DarajaProvider, key: str = "mkopo-disb-1042-1") -> str:
    return provider.disburse(phone=PHONE, amount=500_000, reference="L1042",
                             idempotency_key=key).conversation_id


# --- OAuth ---------------------------------------------------------------------------------


def test_daraja_provider_implements_the_provider_interface(provider: DarajaProvider) -> None:
    assert isinstance(provider, MobileMoneyProvider)


def test_token_is_fetched_once_with_basic_auth_and_reused(
    provider: DarajaProvider, fake: FakeDaraja
) -> None:
    pay(provider, "k1")
    pay(provider, "k2")
    (token_request,) = fake.calls(TOKEN_PATH)
    basic = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert token_request.method == "GET"
    assert token_request.headers["Authorization"] == f"Basic {basic}"
    assert token_request.query == {"grant_type": ["client_credentials"]}
    assert [r.headers["Authorization"] for r in fake.calls(STK_PUSH_PATH)] == [
        "Bearer fake-token-1", "Bearer fake-token-1"]


def test_token_is_refreshed_a_minute_before_it_expires(
    provider: DarajaProvider, fake: FakeDaraja, clock: FrozenClock
) -> None:
    pay(provider, "k1")
    clock.advance(seconds=3599 - 61)
    pay(provider, "k2")
    assert len(fake.calls(TOKEN_PATH)) == 1
    clock.advance(seconds=1)
    pay(provider, "k3")
    assert len(fake.calls(TOKEN_PATH)) == 2
    assert fake.calls(STK_PUSH_PATH)[-1].headers["Authorization"] == "Bearer fake-token-2"


def test_expired_token_is_refreshed_once_and_the_request_repeated(
    provider: DarajaProvider, fake: FakeDaraja
) -> None:
    pay(provider, "k1")
    fake.revoke_tokens()
    assert pay(provider, "k2").startswith("ws_CO_")
    assert [r.headers["Authorization"] for r in fake.calls(STK_PUSH_PATH)] == [
        "Bearer fake-token-1", "Bearer fake-token-1", "Bearer fake-token-2"]


def test_unauthorized_once_is_refreshed_and_repeated(
    provider: DarajaProvider, fake: FakeDaraja
) -> None:
    fake.set_behaviour(UNAUTHORIZED, path=B2C_PATH, times=1)
    assert disburse(provider).startswith("AG_")
    assert len(fake.calls(TOKEN_PATH)) == 2
    assert len(fake.calls(B2C_PATH)) == 2


def test_token_rejected_twice_is_transient_and_not_repeated_again(
    provider: DarajaProvider, fake: FakeDaraja
) -> None:
    fake.set_behaviour(UNAUTHORIZED, path=STK_PUSH_PATH)
    with pytest.raises(TransientError, match=r"STK push: Daraja answered HTTP 401 \(404\.001\.03"):
        pay(provider)
    assert len(fake.calls(STK_PUSH_PATH)) == 2
    assert len(fake.calls(TOKEN_PATH)) == 2


def test_wrong_consumer_secret_is_transient_with_a_clear_message(
    fake: FakeDaraja, settings: Settings, clock: FrozenClock
) -> None:
    wrong = settings.replace(mpesa_consumer_secret="not-the-secret")
    with DarajaProvider(wrong, clock=clock, base_url=fake.base_url) as daraja:
        with pytest.raises(TransientError, match="refused the consumer key and secret"):
            pay(daraja)
    assert fake.api_calls() == []


def test_concurrent_first_requests_fetch_one_token(
    provider: DarajaProvider, fake: FakeDaraja
) -> None:
    errors: list[BaseException] = []

    def query() -> None:
        try:
            provider.query_status(checkout_request_id="ws_CO_1")
        except BaseException as exc:  # collected: a thread's exception would be lost
            errors.append(exc)

    threads = [threading.Thread(target=query) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(fake.calls(TOKEN_PATH)) == 1
    assert len(fake.calls(STK_QUERY_PATH)) == 8


# --- request shapes ------------------------------------------------------------------------


def test_stk_push_sends_the_documented_payload(
    provider: DarajaProvider, fake: FakeDaraja
) -> None:
    checkout_id = pay(provider)
    (request,) = fake.calls(STK_PUSH_PATH)
    timestamp = "20261128091530"
    password = base64.b64encode(f"{SHORTCODE}{PASSKEY}{timestamp}".encode()).decode()
    assert request.json == {
        "BusinessShortCode": SHORTCODE,
        "Password": password,
        "Timestamp": timestamp,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 450,
        "PartyA": "254711000101",
        "PartyB": SHORTCODE,
        "PhoneNumber": "254711000101",
        "CallBackURL": f"{BASE}/mpesa/{TOKEN}/stk",
        "AccountReference": "L1042",
        "TransactionDesc": "Loan repaymen",
    }
    assert checkout_id == f"ws_CO_{timestamp}000001"


def test_b2c_sends_the_idempotency_key_as_originator_conversation_id(
    provider: DarajaProvider, fake: FakeDaraja
) -> None:
    answer = provider.disburse(phone=PHONE, amount=500_000, reference="L1042",
                               idempotency_key="mkopo-disb-1042-1")
    (request,) = fake.calls(B2C_PATH)
    assert request.json == {
        "OriginatorConversationID": "mkopo-disb-1042-1",
        "InitiatorName": "mkopo-api",
        "SecurityCredential": "enc-credential",
        "CommandID": "BusinessPayment",
        "Amount": 5000,
        "PartyA": "600000",
        "PartyB": "254711000101",
        "Remarks": "L1042",
        "QueueTimeOutURL": f"{BASE}/mpesa/{TOKEN}/b2c/timeout",
        "ResultURL": f"{BASE}/mpesa/{TOKEN}/b2c/result",
        "Occassion": "L1042",
    }
    assert answer.originator_conversation_id == "mkopo-disb-1042-1"
    assert answer.conversation_id.startswith("AG_")
    assert answer.description == "Accept the service request successfully."


def test_b2c_repeated_with_the_same_key_keeps_the_same_conversation(
    provider: DarajaProvider,
) -> None:
    assert disburse(provider, "mkopo-disb-7-1") == disburse(provider, "mkopo-disb-7-1")


def test_transaction_status_query_by_receipt(provider: DarajaProvider, fake: FakeDaraja) -> None:
    answer = provider.query_status(receipt="TKS9Q8W7E6")
    (request,) = fake.calls(STATUS_PATH)
    assert request.json == {
        "Initiator": "mkopo-api",
        "SecurityCredential": "enc-credential",
        "CommandID": "TransactionStatusQuery",
        "TransactionID": "TKS9Q8W7E6",
        "OriginatorConversationID": "",
        "PartyA": SHORTCODE,
        "IdentifierType": "4",
        "ResultURL": f"{BASE}/mpesa/{TOKEN}/status/result",
        "QueueTimeOutURL": f"{BASE}/mpesa/{TOKEN}/status/timeout",
        "Remarks": "Mkopo status check",
        "Occasion": "",
    }
    assert (answer.subject_id, answer.outcome, answer.result_code) == (
        "TKS9Q8W7E6", "pending", None)
    assert answer.conversation_id is not None and answer.conversation_id.startswith("AG_")


def test_transaction_status_by_originator_id_uses_the_b2c_shortcode(
    provider: DarajaProvider, fake: FakeDaraja
) -> None:
    provider.query_status(originator_conversation_id="mkopo-disb-1042-1")
    (request,) = fake.calls(STATUS_PATH)
    assert request.json is not None
    assert (request.json["OriginatorConversationID"], request.json["TransactionID"],
            request.json["PartyA"]) == ("mkopo-disb-1042-1", "", "600000")


def test_reversal_sends_the_documented_payload(
    provider: DarajaProvider, fake: FakeDaraja
) -> None:
    answer = provider.reverse(receipt="TKS9Q8W7E6", amount=50_000, reason="Paid twice",
                              idempotency_key="mkopo-rev-77-1")
    (request,) = fake.calls(REVERSAL_PATH)
    assert request.json == {
        "Initiator": "mkopo-api",
        "SecurityCredential": "enc-credential",
        "OriginatorConversationID": "mkopo-rev-77-1",
        "CommandID": "TransactionReversal",
        "TransactionID": "TKS9Q8W7E6",
        "Amount": 500,
        "ReceiverParty": SHORTCODE,
        "RecieverIdentifierType": "11",
        "ResultURL": f"{BASE}/mpesa/{TOKEN}/reversal/result",
        "QueueTimeOutURL": f"{BASE}/mpesa/{TOKEN}/reversal/timeout",
        "Remarks": "Paid twice",
        "Occasion": "mkopo-rev-77-1",
    }
    assert answer.originator_conversation_id == "mkopo-rev-77-1"


def test_c2b_registration_sends_our_urls(provider: DarajaProvider, fake: FakeDaraja) -> None:
    registered = provider.register_c2b_urls()
    (request,) = fake.calls("/mpesa/c2b/v2/registerurl")
    assert request.json == {
        "ShortCode": SHORTCODE,
        "ResponseType": "Completed",
        "ConfirmationURL": f"{BASE}/mpesa/{TOKEN}/c2b/confirmation",
        "ValidationURL": f"{BASE}/mpesa/{TOKEN}/c2b/validation",
    }
    assert registered.description == "Success"


def test_every_callback_url_carries_the_token(provider: DarajaProvider, fake: FakeDaraja) -> None:
    pay(provider)
    disburse(provider)
    provider.query_status(receipt="TKS9Q8W7E6")
    provider.reverse(receipt="TKS9Q8W7E6", amount=100, reason="r", idempotency_key="rev-1")
    provider.register_c2b_urls()
    url_fields = ("CallBackURL", "ResultURL", "QueueTimeOutURL", "ConfirmationURL",
                  "ValidationURL")
    urls = sorted(request.json[name] for request in fake.api_calls()
                  if request.json is not None for name in url_fields if name in request.json)
    assert urls == sorted(f"{BASE}/mpesa/{TOKEN}/{suffix}" for suffix in (
        "stk", "b2c/result", "b2c/timeout", "status/result", "status/timeout",
        "reversal/result", "reversal/timeout", "c2b/confirmation", "c2b/validation"))


def test_stk_query_reports_the_settled_result(provider: DarajaProvider, fake: FakeDaraja) -> None:
    fake.stk_query_result = ("1032", "Request cancelled by user")
    answer = provider.query_status(checkout_request_id="ws_CO_42")
    assert (answer.subject_id, answer.outcome, answer.result_code, answer.description) == (
        "ws_CO_42", "cancelled", 1032, "Request cancelled by user")
    (request,) = fake.calls(STK_QUERY_PATH)
    assert request.json is not None
    assert (request.json["BusinessShortCode"], request.json["Timestamp"],
            request.json["CheckoutRequestID"]) == (SHORTCODE, "20261128091530", "ws_CO_42")


def test_stk_query_while_in_process_is_pending(provider: DarajaProvider, fake: FakeDaraja) -> None:
    fake.set_behaviour(ALREADY_IN_PROCESS, path=STK_QUERY_PATH)
    answer = provider.query_status(checkout_request_id="ws_CO_42")
    assert (answer.outcome, answer.result_code) == ("pending", "500.001.1001")
    assert len(fake.calls(STK_QUERY_PATH)) == 1


# --- refusing bad requests before sending --------------------------------------------------


@pytest.mark.parametrize(("amount", "message"), [
    (45_050, r"M-Pesa takes whole shillings: 45050 cents is KES 450\.50"),
    (0, "amount must be at least KES 1"),
    (-100, "amount must be at least KES 1"),
])
def test_amounts_m_pesa_cannot_move_are_refused_before_sending(
    provider: DarajaProvider, fake: FakeDaraja, amount: int, message: str
) -> None:
    for call in (lambda: pay(provider, amount=amount),
                 lambda: provider.disburse(phone=PHONE, amount=amount, reference="L1",
                                           idempotency_key="k"),
                 lambda: provider.reverse(receipt="R", amount=amount, reason="r",
                                          idempotency_key="k")):
        with pytest.raises(InvalidRequest, match=message) as caught:
            call()
        assert isinstance(caught.value, PermanentError) and isinstance(caught.value, ValueError)
    assert fake.requests == []


def test_non_kenyan_number_is_refused_with_a_masked_number(provider: DarajaProvider) -> None:
    with pytest.raises(InvalidRequest, match=r"Kenyan E\.164 number, not \+256\*+678") as caught:
        provider.request_payment(phone="+256712345678", amount=100, reference="L1",
                                 description="d", idempotency_key="k")
    assert "712345" not in str(caught.value)


def test_status_query_needs_exactly_one_kind_of_id(provider: DarajaProvider) -> None:
    with pytest.raises(InvalidRequest, match="needs a checkout id, receipt or originator id"):
        provider.query_status()
    with pytest.raises(InvalidRequest, match="not both"):
        provider.query_status(checkout_request_id="ws_CO_1", receipt="R1")


# --- failures ------------------------------------------------------------------------------


def test_bad_request_is_permanent_with_daraja_message(
    provider: DarajaProvider, fake: FakeDaraja
) -> None:
    fake.set_behaviour(BAD_REQUEST, path=STK_PUSH_PATH)
    with pytest.raises(PermanentError) as caught:
        pay(provider)
    assert str(caught.value) == (
        "STK push: Daraja answered HTTP 400 (400.002.02: Bad Request - Invalid PhoneNumber)")
    assert len(fake.calls(STK_PUSH_PATH)) == 1


def test_already_in_process_is_transient_and_not_repeated(
    provider: DarajaProvider, fake: FakeDaraja, sleeps: Sleeps
) -> None:
    fake.set_behaviour(ALREADY_IN_PROCESS, path=STK_PUSH_PATH)
    with pytest.raises(AlreadyInProcess, match=r"HTTP 500 \(500\.001\.1001: Unable to lock") as c:
        pay(provider)
    assert isinstance(c.value, TransientError)
    assert len(fake.calls(STK_PUSH_PATH)) == 1
    assert sleeps == []


@pytest.mark.parametrize("behaviour", [MALFORMED, INCOMPLETE])
def test_malformed_answer_is_transient_and_not_repeated(
    provider: DarajaProvider, fake: FakeDaraja, behaviour: str
) -> None:
    fake.set_behaviour(behaviour, path=B2C_PATH)
    with pytest.raises(TransientError, match="B2C payment: malformed Daraja answer"):
        disburse(provider)
    assert len(fake.calls(B2C_PATH)) == 1


def test_malformed_token_answer_is_transient(provider: DarajaProvider, fake: FakeDaraja) -> None:
    fake.set_behaviour(MALFORMED, path=TOKEN_PATH)
    with pytest.raises(TransientError, match="OAuth token: malformed Daraja answer"):
        pay(provider)
    assert fake.api_calls() == []


def test_slow_stk_push_is_transient_within_the_read_timeout_and_not_repeated(
    provider: DarajaProvider, fake: FakeDaraja
) -> None:
    pay(provider, "warm-up")  # fetch the token first, so only the push is timed
    fake.set_behaviour(SLOW, path=STK_PUSH_PATH)
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"no answer from Daraja \(ReadTimeout\); the outcome"):
        pay(provider)
    assert time.monotonic() - started < READ_TIMEOUT + 0.5
    assert len(fake.calls(STK_PUSH_PATH)) == 2


def test_slow_stk_query_is_retried_a_bounded_number_of_times(
    provider: DarajaProvider, fake: FakeDaraja, sleeps: Sleeps
) -> None:
    fake.set_behaviour(SLOW, path=STK_QUERY_PATH)
    started = time.monotonic()
    with pytest.raises(TransientError, match="STK query: no answer from Daraja"):
        provider.query_status(checkout_request_id="ws_CO_1")
    assert time.monotonic() - started < 3 * READ_TIMEOUT + 1.0
    assert len(fake.calls(STK_QUERY_PATH)) == 3
    assert sleeps == [0.01, 0.02]


@pytest.mark.parametrize("behaviour", [ERROR_500, RATE_LIMITED])
def test_query_is_retried_after_5xx_or_429_then_succeeds(
    provider: DarajaProvider, fake: FakeDaraja, sleeps: Sleeps, behaviour: str
) -> None:
    fake.set_behaviour(behaviour, path=STK_QUERY_PATH, times=2)
    assert provider.query_status(checkout_request_id="ws_CO_1").outcome == "success"
    assert len(fake.calls(STK_QUERY_PATH)) == 3
    assert sleeps == [0.01, 0.02]


def test_query_retries_are_bounded(
    provider: DarajaProvider, fake: FakeDaraja, sleeps: Sleeps
) -> None:
    fake.set_behaviour(ERROR_500, path=STATUS_PATH)
    with pytest.raises(TransientError, match=r"transaction status: Daraja answered HTTP 500"):
        provider.query_status(receipt="R1")
    assert len(fake.calls(STATUS_PATH)) == 3
    assert sleeps == [0.01, 0.02]


@pytest.mark.parametrize("path", [STK_PUSH_PATH, B2C_PATH, REVERSAL_PATH])
def test_money_moving_request_is_not_repeated_after_a_5xx(
    provider: DarajaProvider, fake: FakeDaraja, sleeps: Sleeps, path: str
) -> None:
    fake.set_behaviour(ERROR_500, path=path)
    with pytest.raises(TransientError, match=r"Daraja answered HTTP 500 \(500\.003\.02"):
        {STK_PUSH_PATH: lambda: pay(provider), B2C_PATH: lambda: disburse(provider),
         REVERSAL_PATH: lambda: provider.reverse(receipt="R", amount=100, reason="r",
                                                 idempotency_key="k")}[path]()
    assert len(fake.calls(path)) == 1
    assert sleeps == []


def test_stk_push_is_repeated_only_while_daraja_is_unreachable(
    provider: DarajaProvider, fake: FakeDaraja, sleeps: Sleeps
) -> None:
    pay(provider, "warm-up")
    fake.stop()
    with pytest.raises(TransientError, match=r"STK push: Daraja unreachable after 3 attempts"):
        pay(provider)
    assert sleeps == [0.01, 0.02]


def test_stk_push_succeeds_once_daraja_is_back_after_a_connect_error(
    fake: FakeDaraja, settings: Settings, clock: FrozenClock
) -> None:
    port = fake.port
    fake.stop()

    def come_back(seconds: float) -> None:
        fake.start()  # same port, same recorded state

    with DarajaProvider(settings, clock=clock, base_url=f"http://127.0.0.1:{port}",
                        sleep=come_back, retry=RetryPolicy(base_delay=0.01)) as daraja:
        assert pay(daraja).startswith("ws_CO_")
    assert len(fake.calls(STK_PUSH_PATH)) == 1
    assert len(fake.calls(TOKEN_PATH)) == 1


def test_unreachable_daraja_fails_fast_with_nothing_listening(
    settings: Settings, clock: FrozenClock, sleeps: Sleeps
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with DarajaProvider(settings, clock=clock, base_url=f"http://127.0.0.1:{port}",
                        sleep=sleeps) as daraja:
        with pytest.raises(TransientError, match="OAuth token: Daraja unreachable after 3"):
            disburse(daraja)
    assert time.monotonic() - started < 3.0
    assert sleeps == [0.5, 1.0]


# --- logging -------------------------------------------------------------------------------


def test_logs_carry_no_credentials_and_no_full_phone_numbers(
    provider: DarajaProvider, fake: FakeDaraja, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.set_behaviour(ERROR_500, path=STK_QUERY_PATH, times=1)
    pay(provider)
    disburse(provider)
    provider.query_status(checkout_request_id="ws_CO_1")
    text = caplog.text
    for secret in (KEY, SECRET, PASSKEY, "enc-credential", "fake-token-1", TOKEN,
                   "254711000101"):
        assert secret not in text
    assert "+254******101" in text
