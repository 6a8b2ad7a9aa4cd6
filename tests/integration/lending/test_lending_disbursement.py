"""Disbursement: paid out at most once, the schedule starts on the local payout date."""

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

import ledger
from ledger import FEE_INCOME, MOBILE_MONEY_FLOAT, JournalEntry, loan_principal
from lending.disbursement import complete_disbursement, fail_disbursement, start_disbursement
from lending.errors import LendingError
from lending.settlement import start_loan_payout


def test_a_funded_loan_is_ordered_out_once(lending) -> None:
    loan = lending.funded(product=lending.product(upfront_fee_percent="2"))
    order = start_disbursement(lending.session, loan.id, actor="payments")
    assert loan.status == "disbursing"
    assert (order.loan_id, order.reference, order.phone, order.amount_net) == (
        loan.id, loan.reference, loan.borrower.phone, 98_000)
    assert order.idempotency_key == f"b2c:{loan.reference}"
    with pytest.raises(LendingError, match="not_funded"):
        start_disbursement(lending.session, loan.id, actor="payments")


def test_completion_posts_principal_float_and_fee_and_starts_the_schedule(lending) -> None:
    loan = lending.funded(product=lending.product(upfront_fee_percent="2"))
    start_disbursement(lending.session, loan.id, actor="payments")
    late_evening = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # already 3 March in Nairobi
    complete_disbursement(lending.session, loan.id, receipt="QKX1", occurred_at=late_evening)
    assert loan.status == "active"
    assert (loan.start_date.isoformat(), loan.disbursed_at) == ("2026-03-03", late_evening)
    assert [r.due_date.isoformat() for r in loan.installments] == [
        "2026-03-10", "2026-03-17", "2026-03-24", "2026-03-31"]
    s = lending.session
    assert ledger.balance(s, loan_principal(loan.id)) == 100_000
    assert ledger.balance(s, FEE_INCOME) == 2_000
    entry = s.scalar(select(JournalEntry).where(JournalEntry.key == f"disbursement:{loan.id}"))
    assert (entry.member_id, entry.loan_id, entry.meta["receipt"]) == (
        loan.borrower_id, loan.id, "QKX1")
    assert {p.account.code: p.amount for p in entry.postings} == {
        loan_principal(loan.id).code: 100_000, MOBILE_MONEY_FLOAT.code: -98_000,
        FEE_INCOME.code: -2_000}
    assert ledger.verify(s).ok


def test_a_repeated_confirmation_changes_nothing(lending, clock) -> None:
    loan = lending.active()
    complete_disbursement(lending.session, loan.id, receipt="again", occurred_at=clock.now())
    entries = lending.session.scalar(
        select(func.count(JournalEntry.id)).where(JournalEntry.kind == "loan_disbursement",
                                                  JournalEntry.loan_id == loan.id))
    assert entries == 1 and loan.status == "active"
    with pytest.raises(LendingError, match="not_funded"):
        start_disbursement(lending.session, loan.id, actor="payments")


def test_a_failed_payout_goes_back_to_funded_and_retries_under_a_new_key(lending, clock) -> None:
    loan = lending.funded()
    start_disbursement(lending.session, loan.id, actor="payments")
    fail_disbursement(lending.session, loan.id, reason="B2C timeout, no money sent")
    assert loan.status == "funded"
    fail_disbursement(lending.session, loan.id, reason="duplicate callback")
    retry = start_disbursement(lending.session, loan.id, actor="payments")
    assert retry.idempotency_key == f"b2c:{loan.reference}:2"
    complete_disbursement(lending.session, loan.id, receipt="OK2", occurred_at=clock.now())
    assert loan.status == "active"


def test_only_a_disbursing_loan_can_complete(lending, clock) -> None:
    loan = lending.funded()
    with pytest.raises(LendingError, match="not_disbursing"):
        complete_disbursement(lending.session, loan.id, receipt="X", occurred_at=clock.now())
    raising = lending.fundraising()
    with pytest.raises(LendingError, match="not_disbursing"):
        fail_disbursement(lending.session, raising.id, reason="x")
    assert raising.status == "fundraising"



def test_a_repeated_payout_order_for_a_paid_out_loan_is_no_warning(lending, caplog) -> None:
    loan = lending.active()
    with caplog.at_level(logging.INFO, logger="lending.settlement"):
        assert start_loan_payout(lending.session, loan.id) is None
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, f"loan {loan.id} already paid out")]


def test_a_payout_order_the_loan_cannot_take_is_a_warning(lending, caplog) -> None:
    loan = lending.funded()
    start_disbursement(lending.session, loan.id, actor="payments")  # disbursing, not paid out
    with caplog.at_level(logging.INFO, logger="lending.settlement"):
        assert start_loan_payout(lending.session, loan.id) is None
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, f"loan {loan.id} not paid out: not_funded")]
