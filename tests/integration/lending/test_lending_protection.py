"""Borrower protection: credit limits, hardship rescheduling, write-off and recovery."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

import ledger
from ledger import (
    MOBILE_MONEY_FLOAT,
    PENALTY_INCOME,
    RECOVERY_INCOME,
    WRITE_OFF_EXPENSE,
    lender_wallet,
    loan_participation,
    loan_penalties,
    loan_principal,
)
from lending.arrears import apply_penalties
from lending.errors import LendingError
from lending.models import LimitChange
from lending.protection import (
    grown_limit,
    record_recovery,
    reschedule_loan,
    set_credit_limit,
    write_off_loan,
)
from lending.repayments import record_repayment


@pytest.mark.parametrize(("limit", "grown"), [
    (200_000, 300_000), (300_000, 450_000), (450_000, 700_000),  # 6,750 -> 7,000 (half-even)
    (700_000, 1_050_000), (1_050_000, 1_600_000), (8_000_000, 10_000_000),
    (10_000_000, 10_000_000),
])
def test_limits_grow_by_half_to_the_nearest_500_up_to_100000(limit, grown) -> None:
    assert grown_limit(limit) == grown


def repay_weekly(lending, loan, start: datetime, late_days: int = 0) -> None:
    for week in range(1, 5):
        at = start + timedelta(weeks=week, days=late_days)
        record_repayment(lending.session, loan_id=loan.id, amount=26_000,
                         key=f"{loan.id}-{week}", source="c2b", received_at=at)


def test_on_time_grows_late_steps_back_and_default_stops_borrowing(lending, clock) -> None:
    product = lending.product()
    borrower = lending.member()
    first = lending.active(product=product, borrower=borrower)
    repay_weekly(lending, first, clock.now(), late_days=3)  # 3 days late is still on time
    assert borrower.credit_limit == 300_000
    second = lending.active(product=product, borrower=borrower)
    repay_weekly(lending, second, clock.now(), late_days=4)
    assert borrower.credit_limit == 200_000  # back to before the last increase
    set_credit_limit(lending.session, borrower.id, 0, actor="ops", reason="default elsewhere")
    with pytest.raises(LendingError, match="over_credit_limit"):
        lending.application(product=product, borrower=borrower)
    reasons = lending.session.scalars(
        select(LimitChange.reason).where(LimitChange.member_id == borrower.id)
        .order_by(LimitChange.id)).all()
    assert reasons == ["initial", "repaid on time", "repaid late", "ops: default elsewhere"]


def test_rescheduling_spreads_the_outstanding_principal_and_keeps_what_was_owed(lending, clock):
    product = lending.product(penalty_kind="one_time", penalty_percent="5")
    loan = lending.active(product=product)
    s = lending.session
    apply_penalties(s, date(2026, 3, 10))  # 1,300 on installment 1
    record_repayment(s, loan_id=loan.id, amount=10_000, key="part", source="c2b")
    clock.set(datetime(2026, 3, 12, 6, 0, tzinfo=UTC))
    record = reschedule_loan(s, loan.id, actor="officer", reason="harvest failed", new_term=8)
    rows = [(r.number, r.due_date.isoformat(), r.principal, r.interest, r.penalty_charged)
            for r in loan.installments]
    # installment 1 keeps what was paid (1,300 penalty, 1,000 interest, 7,700 principal);
    # 92,300 principal over 8 weeks at 1%/week flat: 7,384 interest
    assert rows[0] == (1, "2026-03-09", 7_700, 1_000, 1_300)
    assert [r[0] for r in rows[1:]] == list(range(5, 13))
    assert rows[1][1] == "2026-03-19"
    assert sum(r[2] for r in rows[1:]) == 92_300
    assert sum(r[3] for r in rows[1:]) == 7_384
    assert sum(r[4] for r in rows[1:]) == 0
    assert len(record.old_schedule) == 4 and len(record.new_schedule) == 9
    assert ledger.balance(s, loan_principal(loan.id)) == 92_300
    with pytest.raises(LendingError, match="invalid_term"):
        reschedule_loan(s, loan.id, actor="officer", reason="x", new_term=0)


def test_write_off_puts_the_principal_loss_on_the_lenders(lending) -> None:
    product = lending.product(penalty_kind="one_time", penalty_percent="5")
    loan = lending.active(weights=(1, 2, 2), product=product)  # stakes 20k, 40k, 40k
    s = lending.session
    record_repayment(s, loan_id=loan.id, amount=26_000, key="one", source="c2b")
    apply_penalties(s, date(2026, 3, 17))  # installment 2 late: 1,300
    write_off_loan(s, loan.id, actor="ops", reason="borrower emigrated")
    assert loan.status == "written_off"
    assert ledger.balance(s, loan_principal(loan.id)) == 0
    assert ledger.balance(s, loan_participation(loan.id)) == 0
    assert ledger.balance(s, loan_penalties(loan.id)) == 0
    assert ledger.balance(s, WRITE_OFF_EXPENSE) == 1_300
    assert ledger.balance(s, PENALTY_INCOME) == 1_300
    stakes = sorted(loan.fundings, key=lambda f: f.id)
    assert [f.principal_lost for f in stakes] == [15_000, 30_000, 30_000]
    assert [f.principal_repaid for f in stakes] == [5_000, 10_000, 10_000]
    assert ledger.verify(s).ok


def test_recoveries_go_to_the_lenders_pro_rata_then_to_the_platform(lending) -> None:
    loan = lending.active(weights=(1, 2, 2))
    s = lending.session
    write_off_loan(s, loan.id, actor="ops", reason="fraud")
    stakes = sorted(loan.fundings, key=lambda f: f.id)
    float_before = ledger.balance(s, MOBILE_MONEY_FLOAT)
    first = record_recovery(s, loan.id, 10_001, "rec-1", receipt="RX1")
    assert loan.status == "recovered"
    assert [f.recovered for f in stakes] == [2_000, 4_001, 4_000]  # largest remainder
    assert record_recovery(s, loan.id, 10_001, "rec-1").id == first.id
    with pytest.raises(LendingError, match="key_conflict"):
        record_recovery(s, loan.id, 5, "rec-1")
    record_recovery(s, loan.id, 95_000, "rec-2")
    assert [f.recovered for f in stakes] == [20_000, 40_000, 40_000]
    assert ledger.balance(s, RECOVERY_INCOME) == 5_001
    assert [ledger.balance(s, lender_wallet(f.lender_id)) for f in stakes] == [
        20_000, 40_000, 40_000]
    assert ledger.balance(s, MOBILE_MONEY_FLOAT) == float_before + 105_001
    assert ledger.verify(s).ok


def test_recovery_needs_a_written_off_loan(lending) -> None:
    loan = lending.active()
    with pytest.raises(LendingError, match="not_written_off"):
        record_recovery(lending.session, loan.id, 1_000, "early")
    with pytest.raises(LendingError, match="illegal_transition"):
        write_off_loan(lending.session, lending.funded().id, actor="ops", reason="x")
