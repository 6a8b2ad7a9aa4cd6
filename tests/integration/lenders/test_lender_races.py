"""Races on PostgreSQL: two lenders after the last share, two auto-lend runs at once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from lending import lenders
from lending.autolend import AutolendAllocation, run_autolend, save_settings
from lending.errors import LendingError
from lending.models import FUNDED, Loan, LoanFunding

from support.races import race_in_transactions

UNIT = 10_000




def setup_last_share(db: Any, world_class: Any) -> tuple[int, int, int]:
    with db.transaction() as session:
        world = world_class(session)
        loan = world.loan(2 * UNIT)
        first = world.lender(wallet=UNIT)
        lenders.fund(session, lender_id=first.id, loan_id=loan.id, shares=1,
                     idempotency_key=f"first-{uuid.uuid4().hex}")
        a, b = world.lender(wallet=5 * UNIT), world.lender(wallet=5 * UNIT)
        return loan.id, a.id, b.id


@pytest.mark.postgres
def test_two_lenders_buying_the_last_share_exactly_one_wins(committed_db, clock,
                                                            world_on) -> None:
    loan_id, a, b = setup_last_share(committed_db, world_on)

    def buy(lender_id: int) -> Callable[[Any], Any]:
        return lambda session: lenders.fund(session, lender_id=lender_id, loan_id=loan_id,
                                            shares=1, idempotency_key=uuid.uuid4().hex)

    results = race_in_transactions(committed_db, buy(a), buy(b))

    wins = [r for r in results if isinstance(r, LoanFunding)]
    losses = [r for r in results if isinstance(r, LendingError)]
    assert len(wins) == 1 and len(losses) == 1
    assert losses[0].code in ("overfunded", "not_fundraising")
    with committed_db.transaction() as session:
        loan = session.get(Loan, loan_id)
        assert loan is not None and loan.funded_amount == loan.amount and loan.status == FUNDED
        total = session.scalar(select(func.sum(LoanFunding.amount))
                               .where(LoanFunding.loan_id == loan_id))
        assert total == loan.amount
        loser = b if wins[0].lender_id == a else a
        assert lenders.wallet_balance(session, loser) == 5 * UNIT


@pytest.mark.postgres
def test_two_autolend_runs_at_once_never_exceed_the_cap(committed_db, clock, world_on) -> None:
    with committed_db.transaction() as session:
        world = world_on(session)
        loan_id = world.loan(10 * UNIT).id
        lender_id = world.lender(wallet=10 * UNIT).id
        save_settings(session, lender_id, {"enabled": True, "max_per_loan": 3 * UNIT})

    results = race_in_transactions(committed_db,
                   lambda s: len(run_autolend(s, lender_id=lender_id)),
                   lambda s: len(run_autolend(s, loan_id=loan_id)))

    assert sorted(results) == [0, 1]
    with committed_db.transaction() as session:
        held = session.scalar(select(func.sum(LoanFunding.amount))
                              .where(LoanFunding.lender_id == lender_id))
        assert held == 3 * UNIT
        assert session.scalar(select(func.count(AutolendAllocation.id))) == 1
        assert lenders.wallet_balance(session, lender_id) == 7 * UNIT
