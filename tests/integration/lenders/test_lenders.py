"""Lender queries on the database: browse, stories, portfolio states, statement, wallet, impact."""

from __future__ import annotations

import uuid

import pytest

import ledger
from core.clock import utcnow
from impact import reach as impact
from ledger import lender_wallet
from lending import lenders
from lending.disbursement import complete_disbursement, start_disbursement
from lending.errors import LendingError
from lending.repayments import record_repayment
from lending.stories import set_story

UNIT = 10_000


def fund(session, lender, loan, shares: int):
    return lenders.fund(session, lender_id=lender.id, loan_id=loan.id, shares=shares,
                        idempotency_key=uuid.uuid4().hex)


def active_loan(world, session, lender, units: int = 4, **borrower):
    """A loan fully funded by `lender` and paid out today."""
    loan = world.loan(units * UNIT, **borrower)
    fund(session, lender, loan, units)
    start_disbursement(session, loan.id, actor="test")
    return complete_disbursement(session, loan.id, receipt=f"R{uuid.uuid4().hex[:8]}",
                                 occurred_at=utcnow())


def repay(session, loan, amount: int) -> None:
    record_repayment(session, loan_id=loan.id, amount=amount, key=uuid.uuid4().hex,
                     source="c2b")


# --- browsing ---------------------------------------------------------------------------


def test_browse_lists_closest_to_funded_first(world, session) -> None:
    lender = world.lender(wallet=10 * UNIT)
    far, near = world.loan(9 * UNIT), world.loan(9 * UNIT)
    fund(session, lender, near, 6)
    cards, total = lenders.browse_fundraising(session)
    order = [c.loan_id for c in cards]
    assert total >= 2 and order.index(near.id) < order.index(far.id)
    card = next(c for c in cards if c.loan_id == near.id)
    assert (card.percent_funded, card.shares_left) == (66, 3)


def test_a_fully_funded_loan_leaves_the_list(world, session) -> None:
    lender = world.lender(wallet=10 * UNIT)
    loan = world.loan(2 * UNIT)
    fund(session, lender, loan, 2)
    cards, _ = lenders.browse_fundraising(session)
    assert loan.id not in [c.loan_id for c in cards]


def test_a_story_is_the_borrowers_words_or_a_plain_sentence(world, session) -> None:
    told, untold = world.loan(UNIT * 2, first_name="Neema"), world.loan(UNIT * 2)
    set_story(session, told.id, "  I sell  vegetables at Kibuye market.  ")
    assert lenders.loan_card(session, told.id).story == "I sell vegetables at Kibuye market."
    assert lenders.loan_card(session, untold.id).story == \
        "Amina in Kondele (farming): stock for the shop."
    with pytest.raises(LendingError):
        set_story(session, told.id, " ")


# --- portfolio ----------------------------------------------------------------------------


def test_portfolio_counts_stakes_by_state(world, session, clock) -> None:
    lender = world.lender(wallet=20 * UNIT)
    raising = world.loan(5 * UNIT)
    fund(session, lender, raising, 1)
    paid = active_loan(world, session, lender)
    active_loan(world, session, lender)  # falls behind below
    repay(session, paid, paid.total_repayable)
    clock.advance(days=10)  # the second loan's first weekly installment is overdue

    book = lenders.lender_portfolio(session, lender.id)

    assert book.counts["raising"] == 1 and book.counts["repaid"] == 1
    assert book.counts["in_arrears"] == 1
    assert book.lent == 9 * UNIT and book.principal_repaid == 4 * UNIT
    assert book.interest_earned > 0
    assert book.repayments_received == book.principal_repaid + book.interest_earned
    assert book.outstanding == 5 * UNIT


# --- statement and wallet -----------------------------------------------------------------


def test_the_wallet_equals_deposits_less_fundings_plus_repayments(world, session) -> None:
    lender = world.lender(wallet=8 * UNIT)
    loan = active_loan(world, session, lender)
    repay(session, loan, loan.total_repayable)
    book = lenders.lender_portfolio(session, lender.id)

    expected = 8 * UNIT - 4 * UNIT + book.repayments_received
    assert ledger.balance(session, lender_wallet(lender.id)) == expected
    lines, total = lenders.statement(session, lender.id, limit=50)
    assert lines[0].balance_after == expected == sum(line.amount for line in lines)
    assert total == len(lines)


def test_the_statement_pages_newest_first(world, session) -> None:
    lender = world.lender()
    for _ in range(5):
        world.deposit(lender.id, UNIT)
    page, total = lenders.statement(session, lender.id, limit=2, offset=1)
    assert total == 5 and [line.balance_after for line in page] == [4 * UNIT, 3 * UNIT]


def test_withdrawals_hold_the_money_and_keep_to_the_daily_limit(world, session) -> None:
    lender = world.lender(wallet=100_000 * 100)
    lenders.withdraw(session, lender_id=lender.id, phone=lender.phone, amount=60_000 * 100,
                     idempotency_key="w1")
    assert lenders.wallet_balance(session, lender.id) == 40_000 * 100
    with pytest.raises(LendingError) as refused:
        lenders.withdraw(session, lender_id=lender.id, phone=lender.phone, amount=10_001 * 100,
                         idempotency_key="w2")
    assert refused.value.code == "daily_limit"
    lenders.withdraw(session, lender_id=lender.id, phone=lender.phone, amount=10_000 * 100,
                     idempotency_key="w3")
    assert lenders.withdrawn_today(session, lender.id) == lenders.DAILY_WITHDRAWAL_LIMIT


def test_a_repeated_withdrawal_key_pays_once(world, session) -> None:
    lender = world.lender(wallet=10 * UNIT)
    first = lenders.withdraw(session, lender_id=lender.id, phone=lender.phone, amount=UNIT,
                             idempotency_key="same")
    again = lenders.withdraw(session, lender_id=lender.id, phone=lender.phone, amount=UNIT,
                             idempotency_key="same")
    assert first.id == again.id and lenders.wallet_balance(session, lender.id) == 9 * UNIT


@pytest.mark.parametrize(("amount", "code"), [
    (0, "invalid_amount"), (150, "invalid_amount"), (20 * UNIT, "insufficient_funds"),
])
def test_a_withdrawal_the_wallet_cannot_pay_is_refused(world, session, amount, code) -> None:
    lender = world.lender(wallet=10 * UNIT)
    with pytest.raises(LendingError) as refused:
        lenders.withdraw(session, lender_id=lender.id, phone=lender.phone, amount=amount,
                         idempotency_key=uuid.uuid4().hex)
    assert refused.value.code == code
    assert lenders.wallet_balance(session, lender.id) == 10 * UNIT


def test_a_deposit_asks_for_an_stk_push(world, session) -> None:
    lender = world.lender()
    intent = lenders.deposit(session, lender_id=lender.id, phone=lender.phone, amount=UNIT,
                             idempotency_key="d1")
    assert (intent.kind, intent.amount) == ("deposit", UNIT)
    assert lenders.wallet_balance(session, lender.id) == 0  # credited when M-Pesa confirms


# --- impact -------------------------------------------------------------------------------


def test_impact_counts_borrowers_women_sectors_and_recycled_money(world, session) -> None:
    lender = world.lender(wallet=4 * UNIT)
    first = active_loan(world, session, lender, gender="f", sector="farming")
    repay(session, first, first.total_repayable)  # 4 units of principal come back
    active_loan(world, session, lender, gender="m", sector="retail")  # lent again from it

    mine = impact.lender_impact(session, lender.id)

    assert (mine.borrowers_reached, mine.women_borrowers, mine.women_share) == (2, 1, "50.0")
    assert mine.sectors == {"farming": 1, "retail": 1}
    assert mine.repayment_rate == "100.0"
    assert mine.lent == 8 * UNIT and mine.money_recycled == 4 * UNIT
    everyone = impact.platform_impact(session)
    assert everyone.borrowers_reached >= 2 and everyone.money_recycled >= 4 * UNIT
