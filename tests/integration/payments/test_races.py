"""Races on PostgreSQL: two paths settling one payment, two withdrawals of the same money."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from core import runtime
from ledger import InsufficientFunds, lender_wallet
from lending import settlement as loan_settlement
from lending.models import Repayment
from payments import intents
from payments.inbox import store_callback
from payments.models import PaymentIntent, SimMpesaTransaction
from payments.outbound import settle_from_stk_query
from payments.processing import process_callback
from payments.providers import simulator
from payments.providers.base import StatusAnswer
from payments.providers.simulator import SimRecord

from support.races import race

pytestmark = pytest.mark.postgres




def test_a_callback_and_a_status_query_settling_one_payment_post_it_once(
    committed_session, committed_books, committed_loans, worker
) -> None:
    session, books = committed_session, committed_books
    loan = committed_loans.active()
    simulator.set_behaviour(loan.borrower.phone, no_callback=True)
    intent = loan_settlement.request_repayment(session, member_id=loan.borrower_id, loan_id=loan.id,
                                       phone=loan.borrower.phone, amount=26_000,
                                       idempotency_key="race-1")
    session.commit()
    worker.run()
    checkout = books.intent(intent.id).checkout_request_id
    row = session.scalar(select(SimMpesaTransaction).where(
        SimMpesaTransaction.external_id == checkout))
    stored = store_callback(session, "stk", json.dumps(simulator.stk_payload(SimRecord.of(row))),
                            "127.0.0.1")

    def by_query() -> None:
        with runtime.current().db.transaction() as s:
            locked = intents.lock_intent(s, intent.id)
            settle_from_stk_query(s, locked, StatusAnswer(checkout or "", "success", 0, "", ""))

    race(lambda: process_callback(stored.inbox_id), by_query)
    session.expire_all()
    assert session.scalar(select(func.count(Repayment.id)).where(
        Repayment.loan_id == loan.id)) == 1
    assert books.intent(intent.id).status == "succeeded"
    books.assert_sound()


def test_two_withdrawals_of_the_same_money_at_once_pay_once(
    committed_session, committed_books, committed_loans
) -> None:
    lender = committed_loans.lender(wallet=500_000)

    def withdraw(key: str) -> Any:
        with runtime.current().db.transaction() as s:
            return intents.request_withdrawal(s, member_id=lender.id, phone=lender.phone,
                                              amount=300_000, idempotency_key=key).id

    results = race(lambda: withdraw("wd-a"), lambda: withdraw("wd-b"))
    assert sorted(type(r).__name__ for r in results) == ["InsufficientFunds", "int"]
    assert any(isinstance(r, InsufficientFunds) for r in results)
    committed_session.expire_all()
    assert committed_session.scalar(select(func.count(PaymentIntent.id)).where(
        PaymentIntent.kind == "withdrawal")) == 1
    assert committed_books.balance(lender_wallet(lender.id)) == 200_000
    committed_books.assert_sound()
