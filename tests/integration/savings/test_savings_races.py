"""Races on PostgreSQL: a withdrawal raced twice, the interest job run twice at once."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core import runtime
from ledger import JournalEntry
from payments.models import PaymentIntent
from savings import accounts, interest, transfers
from savings.errors import SavingsError

from support.races import race

pytestmark = pytest.mark.postgres

KES = 100




def test_a_withdrawal_raced_twice_pays_once(committed_savers) -> None:
    savers = committed_savers
    saver = savers.member()
    savers.session.commit()
    savers.deposit(saver, 500 * KES)
    account_id = savers.akiba(saver).id
    savers.session.commit()

    def withdraw(key: str) -> int:
        with runtime.current().db.transaction() as s:
            return transfers.request_withdrawal(s, member_id=saver.id, account_id=account_id,
                                                amount=300 * KES, idempotency_key=key).id

    results = race(lambda: withdraw("race-a"), lambda: withdraw("race-b"))
    assert sorted(type(r).__name__ for r in results) == ["SavingsError", "int"]
    (refusal,) = [r for r in results if isinstance(r, SavingsError)]
    assert refusal.code == "insufficient_funds"
    savers.worker.run()
    savers.session.expire_all()
    assert savers.session.scalar(select(func.count(PaymentIntent.id)).where(
        PaymentIntent.kind == "savings_payout", PaymentIntent.member_id == saver.id)) == 1
    assert accounts.balance(savers.session, savers.akiba(saver)) == 200 * KES
    savers.assert_sound()


def test_the_same_withdrawal_request_raced_twice_is_one_payout(committed_savers) -> None:
    savers = committed_savers
    saver = savers.member()
    savers.session.commit()
    savers.deposit(saver, 500 * KES)
    account_id = savers.akiba(saver).id
    savers.session.commit()

    def withdraw() -> int:
        with runtime.current().db.transaction() as s:
            return transfers.request_withdrawal(s, member_id=saver.id, account_id=account_id,
                                                amount=100 * KES, idempotency_key="same").id

    results = race(withdraw, withdraw)
    ids = {r for r in results if isinstance(r, int)}
    assert len(ids) == 1, results
    savers.worker.run()
    savers.session.expire_all()
    assert accounts.balance(savers.session, savers.akiba(saver)) == 400 * KES
    savers.assert_sound()


def test_the_interest_job_run_twice_at_once_credits_once(committed_savers, clock) -> None:
    savers = committed_savers
    saver = savers.member()
    savers.session.commit()
    savers.deposit(saver, 10_000 * KES)
    account_id = savers.akiba(saver).id

    def credit() -> int:
        with runtime.current().db.transaction() as s:
            return interest.credit_month(s, date(2026, 3, 1), date(2026, 4, 1)).total

    results = race(credit, credit, credit)
    assert all(isinstance(r, int) for r in results), results
    savers.session.expire_all()
    assert savers.session.scalar(select(func.count(JournalEntry.id)).where(
        JournalEntry.key == interest.interest_key(account_id, date(2026, 3, 1)))) == 1
    assert accounts.balance(savers.session, savers.akiba(saver)) == 10_000 * KES + 4_932
    savers.assert_sound()
