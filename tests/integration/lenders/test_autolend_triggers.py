"""Auto-lending runs by itself: when a loan opens for funding, and when a deposit lands."""

from sqlalchemy import select

from lending.autolend import save_settings
from lending.models import LoanFunding
from payments import intents, settlement


def test_a_loan_opening_for_funding_is_auto_lent_after_commit(world, session, worker) -> None:
    lender = world.lender(wallet=100_000)
    save_settings(session, lender.id, {"enabled": True, "max_per_loan": 20_000})
    loan = world.loan(50_000)
    session.commit()
    worker.run()
    stakes = session.scalars(select(LoanFunding).where(LoanFunding.loan_id == loan.id)).all()
    assert [(s.lender_id, s.amount) for s in stakes] == [(lender.id, 20_000)]


def test_a_settled_deposit_puts_the_money_to_work(world, session, worker) -> None:
    lender = world.lender(wallet=0)
    loan = world.loan(30_000)
    save_settings(session, lender.id, {"enabled": True, "max_per_loan": 30_000})
    session.commit()
    worker.run()  # the loan's own run finds no money yet
    assert session.scalars(select(LoanFunding)).all() == []
    deposit = intents.request_deposit(session, member_id=lender.id, phone=lender.phone,
                                      amount=30_000, idempotency_key="trigger-deposit")
    settlement.settle_collection_success(session, deposit, amount=30_000, receipt="SDT0000001",
                                         occurred_at=None)
    session.commit()
    worker.run()
    stakes = session.scalars(select(LoanFunding).where(LoanFunding.loan_id == loan.id)).all()
    assert [(s.lender_id, s.amount) for s in stakes] == [(lender.id, 30_000)]
    session.refresh(loan)
    # fully funded; on PostgreSQL the same burst may already have started the payout
    assert loan.funded_amount == loan.amount
    assert loan.status in ("funded", "disbursing")
