"""Auto-lending: the fair round-robin plan, and runs against the real ledger and loans."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

import ledger
from ledger import lender_wallet
from lending import lenders
from lending.autolend import (
    AutolendAllocation,
    Criteria,
    LenderBudget,
    LoanFacts,
    LoanSlot,
    autolend_job,
    match_reasons,
    plan_allocations,
    run_autolend,
    save_settings,
)
from lending.funding import fund_loan
from lending.models import FUNDED, LoanFunding

UNIT = 10_000


def everything(_lender: int, _loan: int) -> bool:
    return True


# --- the plan ------------------------------------------------------------------------


def test_one_lender_spreads_one_share_at_a_time_across_loans() -> None:
    plan = plan_allocations([LenderBudget(1, 5 * UNIT, {10: 9 * UNIT, 11: 9 * UNIT})],
                            [LoanSlot(10, UNIT, 9), LoanSlot(11, UNIT, 9)], everything)
    # Five shares over two loans: 3 and 2, the first loan in order taking the odd one.
    assert plan == {(1, 10): 3, (1, 11): 2}


def test_lenders_take_turns_when_shares_run_short() -> None:
    budgets = [LenderBudget(1, 10 * UNIT, {10: 10 * UNIT}),
               LenderBudget(2, 10 * UNIT, {10: 10 * UNIT})]
    plan = plan_allocations(budgets, [LoanSlot(10, UNIT, 3)], everything)
    # Round 1 starts with lender 1, round 2 with lender 2: each gets a fair half.
    assert plan == {(1, 10): 2, (2, 10): 1} or plan == {(1, 10): 1, (2, 10): 2}
    assert sum(plan.values()) == 3


def test_the_per_loan_cap_and_idle_money_bound_the_plan() -> None:
    plan = plan_allocations([LenderBudget(1, 10 * UNIT, {10: 2 * UNIT, 11: 5 * UNIT})],
                            [LoanSlot(10, UNIT, 9), LoanSlot(11, UNIT, 9)], everything)
    assert plan == {(1, 10): 2, (1, 11): 5}


def test_a_lender_without_a_full_share_of_idle_money_gets_nothing() -> None:
    assert plan_allocations([LenderBudget(1, UNIT - 1, {10: 9 * UNIT})],
                            [LoanSlot(10, UNIT, 9)], everything) == {}


def test_only_matching_pairs_are_planned() -> None:
    plan = plan_allocations([LenderBudget(1, 9 * UNIT, {10: 9 * UNIT, 11: 9 * UNIT})],
                            [LoanSlot(10, UNIT, 9), LoanSlot(11, UNIT, 9)],
                            lambda _lender, loan: loan == 11)
    assert plan == {(1, 11): 9}


@given(
    budgets=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 10)), min_size=1,
                     max_size=4),
    slots=st.lists(st.integers(1, 12), min_size=1, max_size=5),
)
def test_the_plan_never_exceeds_shares_money_or_caps(
    budgets: list[tuple[int, int]], slots: list[int]
) -> None:
    lenders_ = [LenderBudget(i, idle * UNIT, {100 + j: cap * UNIT for j in range(len(slots))})
                for i, (idle, cap) in enumerate(budgets, 1)]
    loans = [LoanSlot(100 + j, UNIT, left) for j, left in enumerate(slots)]
    plan = plan_allocations(lenders_, loans, everything)
    for slot in loans:
        assert sum(n for (_, loan), n in plan.items() if loan == slot.loan_id) <= slot.shares_left
    for budget in lenders_:
        mine = {loan: n for (lender, loan), n in plan.items() if lender == budget.lender_id}
        assert sum(mine.values()) * UNIT <= budget.idle
        assert all(n * UNIT <= budget.room[loan] for loan, n in mine.items())
        # Fair spread: a lender's stakes in the loans differ by at most one share unless
        # a loan ran out of shares or the cap stopped it.
        open_loans = [s.loan_id for s in loans
                      if sum(n for (_, loan), n in plan.items() if loan == s.loan_id)
                      < s.shares_left and budget.room[s.loan_id] > mine.get(s.loan_id, 0) * UNIT]
        counts = [mine.get(loan, 0) for loan in open_loans]
        if counts and mine:
            assert max(counts) - min(counts) <= 1


# --- criteria --------------------------------------------------------------------------


FACTS = LoanFacts(loan_id=1, borrower_id=9, sector="farming", region="Kisumu", gender="f",
                  risk_rating=2)


def test_criteria_explain_why_a_loan_matches() -> None:
    wanted = Criteria(sectors=("farming",), regions=("Kisumu",), women_only=True,
                      max_risk_rating=3)
    assert match_reasons(wanted, FACTS) == [
        "sector farming", "region Kisumu", "woman-led", "partner risk 2<=3"]
    assert match_reasons(Criteria(), FACTS) == ["any loan"]


def test_criteria_refuse_what_the_lender_excluded() -> None:
    assert match_reasons(Criteria(sectors=("retail",)), FACTS) is None
    assert match_reasons(Criteria(regions=("Nakuru",)), FACTS) is None
    assert match_reasons(Criteria(women_only=True), LoanFacts(1, 9, None, None, "m", 1)) is None
    assert match_reasons(Criteria(max_risk_rating=1), FACTS) is None
    assert match_reasons(Criteria(max_risk_rating=5), LoanFacts(1, 9, None, None, "f", None)) \
        is None


# --- runs on the database ----------------------------------------------------------------


def opt_in(session: Any, lender_id: int, **values: Any) -> None:
    save_settings(session, lender_id, {"enabled": True, "sectors": [], "regions": [],
                                       "women_only": False, "max_per_loan": 5 * UNIT,
                                       "max_risk_rating": None, "reserve": 0, **values})


def test_idle_money_funds_matching_loans_and_says_why(world, session) -> None:
    lender = world.lender(wallet=4 * UNIT)
    farm = world.loan(5 * UNIT, sector="farming")
    shop = world.loan(3 * UNIT, sector="retail")
    opt_in(session, lender.id, sectors=["farming", "retail"])

    made = run_autolend(session, lender_id=lender.id)

    assert {(a.loan_id, a.shares) for a in made} == {(shop.id, 2), (farm.id, 2)}
    assert lenders.wallet_balance(session, lender.id) == 0
    assert all("sector" in a.reason and "cap KES 500 per loan" in a.reason for a in made)
    lines, _ = lenders.statement(session, lender.id)
    assert sum(1 for line in lines if line.reason and line.reason.startswith("Auto-lent")) == 2


def test_the_reserve_stays_in_the_wallet(world, session) -> None:
    lender = world.lender(wallet=5 * UNIT)
    world.loan(10 * UNIT)
    opt_in(session, lender.id, reserve=3 * UNIT)
    run_autolend(session, lender_id=lender.id)
    assert lenders.wallet_balance(session, lender.id) == 3 * UNIT


def test_a_new_loan_draws_every_matching_lender_in_turn(world, session) -> None:
    first, second = world.lender(wallet=10 * UNIT), world.lender(wallet=10 * UNIT)
    woman = world.lender(wallet=10 * UNIT)
    for lender in (first, second):
        opt_in(session, lender.id)
    opt_in(session, woman.id, women_only=True)
    loan = world.loan(3 * UNIT, gender="m")

    made = run_autolend(session, loan_id=loan.id)

    assert sum(a.shares for a in made) == 3
    assert {a.lender_id for a in made} == {first.id, second.id}
    assert loan.status == FUNDED


def test_a_lender_never_funds_their_own_loan(world, session) -> None:
    lender = world.lender(wallet=10 * UNIT)
    world.loan(5 * UNIT, borrower=lender)
    opt_in(session, lender.id)
    assert run_autolend(session, lender_id=lender.id) == []


def test_a_second_run_adds_nothing_beyond_the_cap(world, session) -> None:
    lender = world.lender(wallet=20 * UNIT)
    loan = world.loan(10 * UNIT)
    opt_in(session, lender.id, max_per_loan=4 * UNIT)
    run_autolend(session, lender_id=lender.id)
    assert run_autolend(session, lender_id=lender.id) == []
    held = session.scalar(select(func.sum(LoanFunding.amount))
                          .where(LoanFunding.loan_id == loan.id))
    assert held == 4 * UNIT


def test_a_lender_who_has_not_opted_in_is_left_alone(world, session) -> None:
    lender = world.lender(wallet=10 * UNIT)
    world.loan(5 * UNIT)
    opt_in(session, lender.id, enabled=False)
    assert run_autolend(session) == []


def test_the_job_runs_in_its_own_unit_of_work(world, session) -> None:
    lender = world.lender(wallet=2 * UNIT)
    world.loan(5 * UNIT)
    opt_in(session, lender.id)
    session.commit()
    assert autolend_job(lender_id=lender.id) == 1
    session.expire_all()
    assert lenders.wallet_balance(session, lender.id) == 0


# --- properties --------------------------------------------------------------------------

SECTORS = ("farming", "retail", "transport")

lender_spec = st.fixed_dictionaries({
    "wallet": st.integers(0, 25),
    "sectors": st.lists(st.sampled_from(SECTORS), max_size=2, unique=True),
    "women_only": st.booleans(),
    "cap": st.integers(1, 6),
    "reserve": st.integers(0, 5),
    "manual": st.integers(0, 2),
})
loan_spec = st.fixed_dictionaries({
    "units": st.integers(1, 8),
    "partial": st.sampled_from([0, 0, 2_500]),
    "sector": st.sampled_from(SECTORS),
    "gender": st.sampled_from(["f", "m"]),
})


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lender_specs=st.lists(lender_spec, min_size=1, max_size=3),
       loan_specs=st.lists(loan_spec, min_size=1, max_size=3))
def test_autolend_properties(world, session, lender_specs, loan_specs) -> None:
    savepoint = session.begin_nested()
    try:
        _check_autolend_properties(world, session, lender_specs, loan_specs)
    finally:
        savepoint.rollback()


def _check_autolend_properties(world, session, lender_specs, loan_specs) -> None:
    product = world.product(share_unit=UNIT)
    loans = [world.loan(spec["units"] * UNIT + spec["partial"], product=product,
                        sector=spec["sector"], gender=spec["gender"]) for spec in loan_specs]
    people = []
    for spec in lender_specs:
        lender = world.lender(wallet=(spec["wallet"] + spec["manual"]) * UNIT)
        manual = min(spec["manual"], _shares_left(loans[0]))
        if manual:  # a manual stake counts against the auto-lend cap
            fund_loan(session, loan_id=loans[0].id, lender_id=lender.id, shares=manual,
                      idempotency_key=f"manual-{uuid.uuid4().hex}")
        opt_in(session, lender.id, sectors=spec["sectors"], women_only=spec["women_only"],
               max_per_loan=spec["cap"] * UNIT, reserve=spec["reserve"] * UNIT)
        people.append((lender, spec, lenders.wallet_balance(session, lender.id)))

    made = run_autolend(session)

    for loan in loans:
        session.refresh(loan)
        stakes = _stakes(session, loan_id=loan.id)
        assert loan.funded_amount == sum(stakes.values()) <= loan.amount  # never overfunded
    for lender, spec, before in people:
        mine = [a for a in made if a.lender_id == lender.id]
        after = lenders.wallet_balance(session, lender.id)
        assert before - after == sum(a.amount for a in mine)  # sums exact
        if mine:
            assert after >= spec["reserve"] * UNIT  # the reserve is kept
        for allocation in mine:
            loan = next(x for x in loans if x.id == allocation.loan_id)
            held = _stakes(session, loan_id=loan.id).get(lender.id, 0)
            assert held <= max(spec["cap"] * UNIT, _manual(session, lender.id, loan.id))
            assert not spec["sectors"] or loan.sector in spec["sectors"]
            assert not spec["women_only"] or loan.borrower.gender == "f"
        # The wallet is exactly what came in less what went out to loans.
        lent = sum(f.amount for f in session.scalars(
            select(LoanFunding).where(LoanFunding.lender_id == lender.id)))
        deposited = (spec["wallet"] + spec["manual"]) * UNIT
        assert ledger.balance(session, lender_wallet(lender.id)) == deposited - lent
    recorded = session.scalar(select(func.count(AutolendAllocation.id))
                              .where(AutolendAllocation.id.in_([a.id for a in made])))
    assert recorded == len(made)
    assert ledger.verify(session).ok


def _shares_left(loan) -> int:
    return -(-(loan.amount - loan.funded_amount) // UNIT)


def _stakes(session, *, loan_id: int) -> dict[int, int]:
    rows = session.execute(select(LoanFunding.lender_id, func.sum(LoanFunding.amount))
                           .where(LoanFunding.loan_id == loan_id)
                           .group_by(LoanFunding.lender_id))
    return {lender: int(total) for lender, total in rows}


def _manual(session, lender_id: int, loan_id: int) -> int:
    auto = select(AutolendAllocation.funding_id)
    return int(session.scalar(
        select(func.coalesce(func.sum(LoanFunding.amount), 0))
        .where(LoanFunding.lender_id == lender_id, LoanFunding.loan_id == loan_id,
               LoanFunding.id.not_in(auto))) or 0)
