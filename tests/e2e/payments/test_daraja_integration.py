"""The outbox handlers and sweeper driving the real Daraja adapter against the fake Daraja."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lending import settlement as loan_settlement
from lending.models import Loan
from payments.factory import using_provider
from payments.providers.daraja import DarajaProvider, RetryPolicy
from payments.sweeps import run_sweeps

from support.fakes_daraja import (  # tests/ is on sys.path (rootdir conftest)
    B2C_PATHS,
    SLOW,
    STATUS_PATH,
    STK_PUSH_PATH,
    STK_QUERY_PATH,
    FakeDaraja,
)

TOKEN = "test-callback-token"


@pytest.fixture
def fake() -> Iterator[FakeDaraja]:
    with FakeDaraja(slow_seconds=2.0) as server:
        yield server


@pytest.fixture
def daraja(fake: FakeDaraja, runtime: Any) -> Iterator[DarajaProvider]:
    """The Daraja adapter pointed at the fake; tests switch to it once the scene is set."""
    settings = runtime.settings.replace(
        mpesa_consumer_key=fake.consumer_key, mpesa_consumer_secret=fake.consumer_secret,
        mpesa_shortcode=fake.shortcode, mpesa_passkey=fake.passkey,
        mpesa_initiator_name="mkopo-api", mpesa_security_credential="enc-credential")
    provider = DarajaProvider(settings, base_url=fake.base_url, sleep=lambda _: None,
                              timeout=httpx.Timeout(0.5, connect=1.0),
                              retry=RetryPolicy(attempts=2, base_delay=0.01))
    yield provider
    provider.close()


def post(client: Any, path: str, payload: Any) -> None:
    response = client.post(f"/mpesa/{TOKEN}/{path}", data=json.dumps(payload),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200


def test_an_stk_push_via_daraja_without_a_callback_is_settled_by_the_stk_query(
    session, loans, worker, books, fake, daraja, clock
) -> None:
    """The push reaches Daraja; no callback ever comes; the sweeper's STK query settles it."""
    loan = loans.active()
    intent = loan_settlement.request_repayment(session, member_id=loan.borrower_id, loan_id=loan.id,
                                       phone=loan.borrower.phone, amount=26_000,
                                       idempotency_key="rep-daraja")
    session.commit()
    with using_provider(daraja):
        worker.run()
        clock.advance(seconds=181)
        run_sweeps()
        worker.run()
    (push,) = fake.calls(STK_PUSH_PATH)
    assert push.json is not None and push.json["Amount"] == 260
    assert push.json["CallBackURL"].endswith(f"/mpesa/{TOKEN}/stk")
    assert len(fake.calls(STK_QUERY_PATH)) == 1
    assert books.intent(intent.id).status == "succeeded"


def test_a_b2c_whose_answer_times_out_is_never_sent_again(
    session, loans, worker, books, fake, daraja, clock, client
) -> None:
    loan = loans.funded(100_000, commit=False)
    session.commit()
    fake.set_behaviour(SLOW, path=B2C_PATHS[0], times=1)
    with using_provider(daraja):
        worker.run()  # the B2C reaches Daraja, the answer does not reach us
        payout = _payout(session, loan)
        assert payout.status == "requested" and "status query" in (payout.result_desc or "")
        for _ in range(3):
            clock.advance(minutes=31)
            run_sweeps()
            worker.run()
    assert len(fake.calls(*B2C_PATHS)) == 1
    assert len(fake.calls(STATUS_PATH)) == 3
    # Daraja's result for the queried payout finally comes: the loan is paid out once.
    post(client, "b2c/result", _b2c_success(payout.originator_conversation_id or "", 100_000))
    worker.run()
    session.refresh(loan)
    assert loan.status == "active"
    assert books.intent(payout.id).status == "succeeded"


def test_a_b2c_daraja_refuses_fails_the_payout_with_a_break(
    session, loans, worker, books, fake, daraja
) -> None:
    from support.fakes_daraja import BAD_REQUEST

    loan = loans.funded(100_000, commit=False)
    session.commit()
    fake.set_behaviour(BAD_REQUEST, path=B2C_PATHS[0])
    with using_provider(daraja):
        worker.run()
    session.refresh(loan)
    assert loan.status == "funded"
    assert [item.type for item in books.breaks()] == ["payout_failed"]


def _payout(session: Any, loan: Loan) -> Any:
    from sqlalchemy import select

    from payments.models import PaymentIntent

    session.expire_all()
    return session.scalar(select(PaymentIntent).where(PaymentIntent.loan_id == loan.id,
                                                      PaymentIntent.kind == "disbursement"))


def _b2c_success(originator: str, amount: int) -> dict[str, Any]:
    return {"Result": {
        "ResultType": 0, "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "OriginatorConversationID": originator, "ConversationID": "AG_20260302_x",
        "TransactionID": "TKT9DARAJA",
        "ResultParameters": {"ResultParameter": [
            {"Key": "TransactionAmount", "Value": amount // 100},
            {"Key": "TransactionReceipt", "Value": "TKT9DARAJA"},
            {"Key": "TransactionCompletedDateTime", "Value": "02.03.2026 09:05:00"},
        ]},
    }}
