"""Races on PostgreSQL: row locks keep repayments exact and loans never overfunded."""

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

import ledger
from core.outbox import OutboxItem
from ledger import borrower_credit, loan_participation, loan_principal
from lending.applications import apply_for_loan
from lending.disbursement import complete_disbursement, start_disbursement
from lending.errors import LendingError
from lending.funding import fund_loan
from lending.loans import principal_outstanding
from lending.models import Loan, Repayment
from lending.repayments import record_repayment

from support.races import outcomes, race_in_transactions

pytestmark = pytest.mark.postgres


def race(db, calls: list[Callable]) -> list[str]:
    """Each call in its own transaction, all released at once: 'ok' or the refusal's code."""
    return outcomes(race_in_transactions(db, *calls), LendingError)


def repay(loan_id: int, amount: int, key: str) -> Callable:
    return lambda s: record_repayment(s, loan_id=loan_id, amount=amount, key=key, source="c2b")


def test_two_repayments_at_once_are_both_applied_exactly(committed_db, builder) -> None:
    with committed_db.transaction() as s:
        loan_id = builder(s).active(weights=(1, 2, 2)).id
    assert race(committed_db, [repay(loan_id, 30_000, "a"), repay(loan_id, 45_000, "b")]) == [
        "ok", "ok"]
    with committed_db.transaction() as s:
        loan = s.get(Loan, loan_id)
        paid = sum(r.principal_paid + r.interest_paid for r in loan.installments)
        held = ledger.balance(s, borrower_credit(loan.borrower_id))
        assert (paid, held) == (52_000, 23_000)  # two installments; the rest held as credit
        principal = 100_000 - principal_outstanding(loan)
        assert principal == sum(f.principal_repaid for f in loan.fundings)
        assert ledger.balance(s, loan_principal(loan_id)) == principal_outstanding(loan)
        assert ledger.balance(s, loan_participation(loan_id)) == principal_outstanding(loan)
        assert ledger.verify(s).ok


def test_the_same_repayment_twice_at_once_is_applied_once(committed_db, builder) -> None:
    with committed_db.transaction() as s:
        loan_id = builder(s).active().id
    assert race(committed_db, [repay(loan_id, 26_000, "dup")] * 3) == ["ok", "ok", "ok"]
    with committed_db.transaction() as s:
        assert s.scalar(select(func.count(Repayment.id))) == 1
        assert ledger.balance(s, loan_principal(loan_id)) == 75_000
        assert ledger.verify(s).ok


def test_two_lenders_racing_for_the_last_share_never_overfund(committed_db, builder) -> None:
    with committed_db.transaction() as s:
        builder = builder(s)
        loan = builder.fundraising(amount=100_000)
        first = builder.lender(wallet=90_000)
        fund_loan(s, loan_id=loan.id, lender_id=first.id, shares=9, idempotency_key="f0")
        rivals = [builder.lender(wallet=10_000).id for _ in range(2)]
    calls = [
        (lambda s, lender=lender: fund_loan(s, loan_id=loan.id, lender_id=lender, shares=1,
                                            idempotency_key=f"last-{lender}"))
        for lender in rivals
    ]
    assert race(committed_db, calls) == ["not_fundraising", "ok"]
    with committed_db.transaction() as s:
        funded = s.get(Loan, loan.id)
        assert (funded.status, funded.funded_amount) == ("funded", 100_000)
        assert ledger.balance(s, loan_participation(loan.id)) == 100_000
        assert s.scalar(select(func.count(OutboxItem.id))
                        .where(OutboxItem.kind == "loan.disburse")) == 1
        assert ledger.verify(s).ok


def test_two_applications_at_once_leave_one_open_loan(committed_db, builder) -> None:
    with committed_db.transaction() as s:
        builder = builder(s)
        member_id, code = builder.member().id, builder.product().code
    calls = [
        (lambda s, key=key: apply_for_loan(
            s, member_id=member_id, product_code=code, amount=100_000, term=4,
            purpose="stock", idempotency_key=key))
        for key in ("app-a", "app-b")
    ]
    assert race(committed_db, calls) == ["active_loan_exists", "ok"]


def test_repayments_of_loans_sharing_lenders_never_deadlock(committed_db, builder) -> None:
    """Each repayment moves the same two wallets: their row locks must not cross."""
    with committed_db.transaction() as s:
        world = builder(s)
        first, second = world.lender(wallet=600_000), world.lender(wallet=600_000)
        loan_ids = []
        for n in range(6):
            loan = world.fundraising()
            order = (first, second) if n % 2 else (second, first)  # stakes in both orders
            for i, lender in enumerate(order):
                fund_loan(s, loan_id=loan.id, lender_id=lender.id, shares=5,
                          idempotency_key=f"shared-{loan.id}-{i}")
            start_disbursement(s, loan.id, actor="payments")
            complete_disbursement(s, loan.id, receipt=f"SHARED{loan.id}",
                                  occurred_at=loan.created_at)
            loan_ids.append(loan.id)
        wallets_before = [ledger.balance(s, ledger.lender_wallet(m.id)) for m in (first, second)]

    outcomes = race(committed_db, [repay(loan_id, 26_000, f"shared-{loan_id}")
                                   for loan_id in loan_ids])

    assert outcomes == ["ok"] * 6
    with committed_db.transaction() as s:
        received = sum(ledger.balance(s, ledger.lender_wallet(m.id)) for m in (first, second))
        interest = sum(r.platform_interest for r in s.scalars(
            select(Repayment).where(Repayment.loan_id.in_(loan_ids))))
        assert received - sum(wallets_before) == 6 * 26_000 - interest
        assert ledger.verify(s).ok
