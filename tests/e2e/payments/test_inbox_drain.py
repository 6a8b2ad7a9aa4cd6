"""Draining the inbox: one rq job for a burst of callbacks, each callback its own transaction."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from rq.registry import StartedJobRegistry
from sqlalchemy import func, select

from core.jobs import get_queue
from ledger import MOBILE_MONEY_FLOAT
from lending import settlement as loan_settlement
from lending.models import Repayment
from messaging.models import SmsMessage
from payments import processing
from payments.inbox import store_callback
from payments.models import REQUESTED

TOKEN = "test-callback-token"


def paybill(reference: str, trans_id: str, amount: str = "100.00") -> dict[str, Any]:
    return {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20261128101502",
            "TransAmount": amount, "BusinessShortCode": "600981", "BillRefNumber": reference,
            "MSISDN": "254711000101", "FirstName": "Amina"}


def post(client: Any, path: str, payload: Any) -> None:
    response = client.post(f"/mpesa/{TOKEN}/{path}", data=json.dumps(payload),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.data


def drains_waiting() -> int:
    return sum(job.func_name == "payments.processing.drain_inbox"
               for job in get_queue("payments").jobs)


def repayments(session: Any, *keys: str) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count(Repayment.id)).where(Repayment.key.in_(keys)))
               or 0)


def test_a_burst_of_callbacks_is_one_job_and_each_is_applied_once(
    client, session, worker, books, loans
) -> None:
    running = [loans.active() for _ in range(3)]
    keys = [f"TKBURST{n}" for n in range(9)]
    for n, key in enumerate(keys):
        post(client, "c2b/confirmation", paybill(running[n % 3].reference, key))
    assert drains_waiting() == 1
    # the drain, the helper it asks for once it sees a backlog, and the receipts' drain(s)
    assert worker.run() < len(keys)
    assert [row.status for row in books.inbox() if row.external_id in keys] == [
        "processed"] * 9
    assert repayments(session, *keys) == 9
    receipts = session.scalars(select(SmsMessage.status).where(
        SmsMessage.template.like("repayment%"))).all()
    assert receipts and "queued" not in receipts
    books.assert_sound(against_simulator=False)


def test_a_poison_callback_in_the_middle_of_a_batch_breaks_alone(
    client, session, worker, books, loans
) -> None:
    loan = loans.active()
    post(client, "c2b/confirmation", paybill(loan.reference, "TKGOOD1"))
    post(client, "c2b/confirmation", paybill(loan.reference, "TKPOISON", amount="-500.00"))
    post(client, "c2b/confirmation", paybill(loan.reference, "TKGOOD2"))
    assert drains_waiting() == 1
    worker.run()
    status = {row.external_id: row.status for row in books.inbox()}
    assert (status["TKGOOD1"], status["TKPOISON"], status["TKGOOD2"]) == (
        "processed", "failed", "processed")
    assert [(b.type, b.status) for b in books.breaks()] == [("unprocessable_callback", "open")]
    assert repayments(session, "TKGOOD1", "TKGOOD2", "TKPOISON") == 2
    books.assert_sound(against_simulator=False)


def crashing_on(external_id: str) -> Any:
    """The real paybill route, which then crashes for one callback (after posting it)."""
    real = processing.ROUTES["c2b_confirmation"]

    def route(session: Any, inbox: Any, evt: Any) -> str:
        outcome = real(session, inbox, evt)
        if inbox.external_id == external_id:
            raise RuntimeError("a bug met this callback")
        return outcome

    return route


def test_a_crash_in_the_middle_of_a_batch_rolls_back_that_callback_only(
    client, session, worker, books, loans, clock, monkeypatch
) -> None:
    loan = loans.active()
    monkeypatch.setitem(processing.ROUTES, "c2b_confirmation", crashing_on("TKCRASH"))
    for key in ("TKBEFORE", "TKCRASH", "TKAFTER"):
        post(client, "c2b/confirmation", paybill(loan.reference, key))
    worker.run()
    rows = {row.external_id: row for row in books.inbox()}
    assert (rows["TKBEFORE"].status, rows["TKAFTER"].status) == ("processed", "processed")
    crashed = rows["TKCRASH"]
    assert (crashed.status, crashed.attempts) == ("received", 1)
    assert "a bug met this callback" in (crashed.error or "")
    assert repayments(session, "TKBEFORE", "TKCRASH", "TKAFTER") == 2  # its posting undone
    # A callback tried before is the sweeper's, not the next drain's: it comes back by id.
    monkeypatch.undo()
    post(client, "c2b/confirmation", paybill(loan.reference, "TKLATER"))
    worker.run()
    assert books.inbox("TKCRASH")[0].status == "received"
    clock.advance(seconds=61)
    assert processing.requeue_stuck() == 1
    worker.run()
    assert books.inbox("TKCRASH")[0].status == "processed"
    assert repayments(session, "TKBEFORE", "TKCRASH", "TKAFTER", "TKLATER") == 4
    books.assert_sound(against_simulator=False)


def test_duplicates_in_one_batch_are_posted_once(
    client, session, worker, books, loans, fixture_payload
) -> None:
    loan = loans.active()
    intent = loan_settlement.request_repayment(
        session, member_id=loan.borrower_id, loan_id=loan.id, phone=loan.borrower.phone,
        amount=45_000, idempotency_key="rep-dup")
    intent.checkout_request_id, intent.status = "ws_CO_DUPLICATE_BATCH", REQUESTED
    session.commit()
    stk = fixture_payload("daraja_stk_callback_success.json")
    stk["Body"]["stkCallback"]["CheckoutRequestID"] = "ws_CO_DUPLICATE_BATCH"
    receipt = next(item["Value"] for item in stk["Body"]["stkCallback"]["CallbackMetadata"][
        "Item"] if item["Name"] == "MpesaReceiptNumber")
    float_before = books.balance(MOBILE_MONEY_FLOAT)
    for _ in range(3):
        post(client, "stk", stk)  # M-Pesa resending: one stored row
    post(client, "c2b/confirmation", paybill(loan.reference, receipt, amount="450.00"))
    assert drains_waiting() == 1
    worker.run()
    assert books.balance(MOBILE_MONEY_FLOAT) == float_before + 45_000
    assert session.scalar(select(func.count(Repayment.id)).where(
        Repayment.loan_id == loan.id)) == 1
    assert books.intent(intent.id).status == "succeeded"
    assert books.breaks() == []
    books.assert_sound(against_simulator=False)


# --- with real commits and processes (PostgreSQL) ---------------------------------------------


@pytest.mark.postgres
def test_two_drains_at_once_take_different_callbacks(
    committed_session, committed_books, committed_loans
) -> None:
    session = committed_session
    running = [committed_loans.active() for _ in range(2)]
    keys = [f"TKPAIR{n}" for n in range(20)]
    for n, key in enumerate(keys):
        store_callback(session, "c2b_confirmation",
                       json.dumps(paybill(running[n % 2].reference, key)), "127.0.0.1")
    outcomes: list[dict[str, int]] = []
    drains = [threading.Thread(target=lambda: outcomes.append(processing.drain_inbox()))
              for _ in range(2)]
    for drain in drains:
        drain.start()
    for drain in drains:
        drain.join()
    assert sum(o.get("processed", 0) for o in outcomes) == 20 and len(outcomes) == 2
    assert repayments(session, *keys) == 20
    committed_books.assert_sound(against_simulator=False)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_drain_killed_mid_batch_leaves_the_rest_to_the_next_drain(
    committed_session, committed_books, committed_loans, processes, redis, wait_until
) -> None:
    session, books = committed_session, committed_books
    loan = committed_loans.active()
    processes.web(workers=1)
    # The worker sleeps inside each callback's transaction, after applying it.
    slow = processes.worker(MPESA_PROCESSING_DELAY="30")
    url = f"{processes.base_url}/mpesa/{processes.runtime.settings.callback_token}"
    keys = ["TKKILL1", "TKKILL2", "TKKILL3"]
    for key in keys:
        response = httpx.post(f"{url}/c2b/confirmation", json=paybill(loan.reference, key),
                              timeout=10)
        assert response.status_code == 200
    wait_until(lambda: StartedJobRegistry("payments", connection=redis).count > 0, timeout=30)
    processes.kill(slow)
    assert repayments(session, *keys) == 0
    assert [(row.status, row.attempts) for row in books.inbox() if row.external_id in keys] == [
        ("received", 0)] * 3
    # The next callback's drain takes the ones the killed drain held or never reached.
    processes.worker()
    response = httpx.post(f"{url}/c2b/confirmation", json=paybill(loan.reference, "TKKILL4"),
                          timeout=10)
    assert response.status_code == 200
    keys.append("TKKILL4")
    wait_until(lambda: repayments(session, *keys) == 4, timeout=60)
    assert [row.status for row in books.inbox() if row.external_id in keys] == [
        "processed"] * 4
    books.assert_sound(against_simulator=False)


def test_a_refusal_after_the_repayment_began_writing_undoes_the_callback_not_parks_it(
    client, session, worker, books, loans, monkeypatch
) -> None:
    """The paybill path applies a loan's refusal without a savepoint: safe only because a
    refusal means nothing was written. One met later must roll the callback back whole,
    not park the money in suspense beside a half-written repayment."""
    from ledger import SUSPENSE
    from lending import repayments as lending_repayments
    from lending.errors import LendingError

    loan = loans.active()
    suspense_before, float_before = books.balance(SUSPENSE), books.balance(MOBILE_MONEY_FLOAT)

    def late_refusal(*_args: Any, **_kwargs: Any) -> None:
        raise LendingError("late", "refused after the entry was posted")

    monkeypatch.setattr(lending_repayments.notifications, "repayment_messages", late_refusal)
    post(client, "c2b/confirmation", paybill(loan.reference, "TKLATE"))
    worker.run()
    [row] = books.inbox("TKLATE")
    assert (row.status, row.attempts) == ("received", 1)
    assert "RepaymentAborted" in (row.error or "")
    assert repayments(session, "TKLATE") == 0
    assert books.breaks() == []
    assert (books.balance(SUSPENSE), books.balance(MOBILE_MONEY_FLOAT)) == (
        suspense_before, float_before)
    books.assert_sound(against_simulator=False)


def test_a_drain_asks_for_its_receipts_once_per_round_not_once_per_callback(
    client, session, worker, books, loans, monkeypatch
) -> None:
    from core import outbox

    running = [loans.active() for _ in range(2)]
    keys = [f"TKROUND{n}" for n in range(5)]
    for n, key in enumerate(keys):
        store_callback(session, "c2b_confirmation",
                       json.dumps(paybill(running[n % 2].reference, key)), "127.0.0.1")
    asked: list[str] = []
    real = outbox.request_dispatch
    monkeypatch.setattr(outbox, "request_dispatch",
                        lambda queue: (asked.append(queue), real(queue))[1])
    assert processing.drain_inbox() == {"processed": 5}
    assert asked == ["sms"]  # five receipts committed, one request for them, at the end
    worker.run()
    receipts = session.scalars(select(SmsMessage.status).where(
        SmsMessage.template.like("repayment%"))).all()
    assert len(receipts) == 5 and "queued" not in receipts
    books.assert_sound(against_simulator=False)
