"""Faults with real processes: concurrent duplicates, a worker killed mid-job, Redis wiped.

Each test commits for real and runs gunicorn and/or `flask worker` as
subprocesses on this run's database and Redis. After each: the ledger
verifies, the trial balance is zero, and the float equals the simulator's
own record of what M-Pesa moved.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from rq.registry import StartedJobRegistry
from sqlalchemy import func, select

from core import outbox
from lending import settlement as loan_settlement
from lending.models import Repayment
from payments.models import CallbackInbox, PaymentIntent, SimMpesaTransaction
from payments.processing import process_callback, requeue_stuck
from payments.providers import simulator
from payments.providers.simulator import SimRecord
from payments.sweeps import query_overdue_intents

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def requested_repayment(session: Any, loans: Any, worker: Any) -> tuple[PaymentIntent, Any]:
    """An active loan whose STK push M-Pesa took but never called back about."""
    loan = loans.active()
    simulator.set_behaviour(loan.borrower.phone, no_callback=True)
    intent = loan_settlement.request_repayment(session, member_id=loan.borrower_id, loan_id=loan.id,
                                       phone=loan.borrower.phone, amount=26_000,
                                       idempotency_key=f"rep-{loan.id}")
    session.commit()
    worker.run()
    session.refresh(intent)
    assert intent.status == "requested"
    return intent, loan


def success_callback(session: Any, checkout_id: str) -> str:
    """The Daraja body M-Pesa would have posted for that push (from the simulator's record)."""
    row = session.scalar(select(SimMpesaTransaction).where(
        SimMpesaTransaction.external_id == checkout_id))
    return json.dumps(simulator.stk_payload(SimRecord.of(row)))


def count_repayments(session: Any, key: str) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count(Repayment.id)).where(Repayment.key == key)) or 0)


def test_the_same_callback_50_times_at_once_is_stored_and_applied_once(
    committed_session, committed_books, committed_loans, worker, processes
) -> None:
    session, books = committed_session, committed_books
    intent, _ = requested_repayment(session, committed_loans, worker)
    body = success_callback(session, intent.checkout_request_id or "")
    processes.web(workers=2)
    url = f"{processes.base_url}/mpesa/{processes.runtime.settings.callback_token}/stk"
    statuses: list[int] = []
    start = threading.Barrier(50)

    def post() -> None:
        start.wait()
        with httpx.Client(timeout=30) as client:
            statuses.append(client.post(url, content=body,
                                        headers={"Content-Type": "application/json"}).status_code)

    threads = [threading.Thread(target=post) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 50
    (row,) = books.inbox(intent.checkout_request_id)
    # And 50 processing jobs racing on that one row: the row lock lets one through.
    outcomes: list[str] = []
    racers = [threading.Thread(target=lambda: outcomes.append(process_callback(row.id)))
              for _ in range(50)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(set(outcomes)) == ["processed", "skipped"] and outcomes.count("processed") == 1
    worker.run()
    assert count_repayments(session, intent.checkout_request_id or "") == 1
    assert books.intent(intent.id).status == "succeeded"
    books.assert_sound()


def test_a_worker_killed_mid_processing_leaves_no_trace_and_the_restart_applies_once(
    committed_session, committed_books, committed_loans, worker, processes, redis, wait_until
) -> None:
    session, books = committed_session, committed_books
    intent, _ = requested_repayment(session, committed_loans, worker)
    processes.web(workers=1)
    # The worker sleeps inside the processing transaction, after applying the repayment.
    slow = processes.worker(MPESA_PROCESSING_DELAY="30")
    response = httpx.post(
        f"{processes.base_url}/mpesa/{processes.runtime.settings.callback_token}/stk",
        content=success_callback(session, intent.checkout_request_id or ""),
        headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200
    assert len(books.inbox(intent.checkout_request_id)) == 1

    def busy() -> bool:
        return StartedJobRegistry("payments", connection=redis).count > 0

    wait_until(busy, timeout=30)
    processes.kill(slow)
    # Killed mid-transaction: nothing it did survived.
    assert count_repayments(session, intent.checkout_request_id or "") == 0
    assert books.inbox(intent.checkout_request_id)[0].status == "received"
    # The sweeper finds the row still `received` and queues it again for a fresh worker.
    processes.worker()
    assert requeue_stuck(older_than=timedelta(0)) == 1
    wait_until(lambda: books.inbox(intent.checkout_request_id)[0].status == "processed")
    assert requeue_stuck(older_than=timedelta(0)) == 0
    assert count_repayments(session, intent.checkout_request_id or "") == 1
    assert books.intent(intent.id).status == "succeeded"
    books.assert_sound()


def test_redis_wiped_mid_flow_is_rebuilt_from_the_database(
    committed_session, committed_books, committed_loans, worker, processes, redis, wait_until
) -> None:
    session, books = committed_session, committed_books
    loans = [committed_loans.active() for _ in range(3)]
    processes.web(workers=1)
    # 1. Orders written, their dispatch jobs lost: nobody is prompted.
    for loan in loans:
        simulator.set_behaviour(loan.borrower.phone, delay=2)
        loan_settlement.request_repayment(session, member_id=loan.borrower_id, loan_id=loan.id,
                                  phone=loan.borrower.phone, amount=26_000,
                                  idempotency_key=f"rep-{loan.id}")
    session.commit()
    redis.flushdb()
    for loan in loans:  # the scripts live in Redis too; put them back
        simulator.set_behaviour(loan.borrower.phone, delay=2)
    worker_process = processes.worker(MPESA_STK_DEADLINE_SECONDS="1")
    assert outbox.sweep(grace=timedelta(0)) == 3
    ids = [i for i in session.scalars(select(PaymentIntent.id).where(
        PaymentIntent.kind == "repayment"))]

    def all_requested() -> bool:
        session.expire_all()
        return all(books.intent(i).status == "requested" for i in ids)

    wait_until(all_requested)
    # 2. M-Pesa's delayed callbacks are lost with Redis: the status queries settle them.
    redis.flushdb()
    wait_until(lambda: query_overdue_intents() == 3, every=0.5)

    def all_settled() -> bool:
        session.expire_all()
        return all(books.intent(i).status == "succeeded" for i in ids)

    wait_until(all_settled)
    # 3. A paybill payment stored, its processing job lost: the inbox sweep brings it back.
    processes.stop(worker_process)
    trans_id = simulator.simulate_paybill_payment(loans[0].borrower.phone, 10_000,
                                                  loans[0].reference)
    (sim_row,) = session.scalars(select(SimMpesaTransaction.id).where(
        SimMpesaTransaction.external_id == trans_id))
    redis.flushdb()
    assert simulator.deliver(sim_row) == "delivered"
    redis.flushdb()
    assert [(row.kind, row.status) for row in books.inbox(trans_id)] == [
        ("c2b_validation", "processed"), ("c2b_confirmation", "received")]
    processes.worker()
    assert requeue_stuck(older_than=timedelta(0)) == 1
    wait_until(lambda: count_repayments(session, trans_id) == 1)
    for intent_id in ids:
        key = books.intent(intent_id).checkout_request_id or ""
        assert count_repayments(session, key) == 1
    assert session.scalar(select(func.count(CallbackInbox.id)).where(
        CallbackInbox.status == "received")) == 0
    books.assert_sound()
