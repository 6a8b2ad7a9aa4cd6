"""Portfolio figures, lender books and the borrower's read views on a small known portfolio."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from lending.portfolio import field_partner_portfolio, lender_portfolio, platform_portfolio
from lending.protection import write_off_loan
from lending.queries import (
    balance_summary,
    current_loan,
    current_loan_reference,
    installments_due_on,
    loan_by_reference,
    statement_lines,
)
from lending.repayments import record_repayment

TODAY = date(2026, 4, 10)
START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def pay_weeks(lending, loan, weeks):
    for week in weeks:
        record_repayment(lending.session, loan_id=loan.id, amount=26_000,
                         key=f"{loan.id}-{week}", source="c2b",
                         received_at=START + timedelta(weeks=week))


@pytest.fixture
def book(lending):
    """Four KES 1,000 loans paid out on 2 March: part-paid, unpaid, repaid, written off."""
    partner = lending.partner()
    product = lending.product()
    loans = {}
    for name in ("part", "unpaid", "repaid", "lost"):
        borrower = lending.member(partner=partner if name in ("part", "unpaid") else None)
        loans[name] = lending.active(product=product, borrower=borrower)
    pay_weeks(lending, loans["part"], [1, 2])
    pay_weeks(lending, loans["repaid"], [1, 2, 3, 4])
    write_off_loan(lending.session, loans["lost"].id, actor="ops", reason="absconded")
    return partner, loans


def test_platform_figures(lending, book) -> None:
    figures = platform_portfolio(lending.session, TODAY)
    assert (figures.loans, figures.active_loans, figures.disbursed) == (4, 2, 400_000)
    assert figures.outstanding_principal == 150_000
    assert figures.par == {"par1": 150_000, "par30": 100_000, "par90": 0}
    assert figures.par_percent == {"par1": Decimal("100.00"), "par30": Decimal("66.67"),
                                   "par90": Decimal("0.00")}
    assert (figures.due_to_date, figures.collected_to_date) == (416_000, 156_000)
    assert figures.repayment_rate == Decimal("37.50")
    assert figures.default_rate == Decimal("25.00")


def test_field_partner_figures(lending, book) -> None:
    partner, _ = book
    figures = field_partner_portfolio(lending.session, partner.id, TODAY)
    assert (figures.loans, figures.outstanding_principal) == (2, 150_000)
    assert figures.repayment_rate == Decimal("25.00")  # 52,000 of 208,000
    assert figures.default_rate == Decimal("0.00")


def test_lender_books(lending, book) -> None:
    _, loans = book
    part = lender_portfolio(lending.session, loans["part"].fundings[0].lender_id)
    lost = lender_portfolio(lending.session, loans["lost"].fundings[0].lender_id)
    assert (part.lent, part.repaid, part.interest_earned, part.outstanding, part.lost) == (
        100_000, 50_000, 1_600, 50_000, 0)
    assert (lost.lent, lost.repaid, lost.outstanding, lost.lost) == (100_000, 0, 0, 100_000)


def test_balance_summary_and_statement(lending, book, clock) -> None:
    _, loans = book
    loan = loans["part"]
    clock.set(datetime(2026, 4, 10, 6, 0, tzinfo=UTC))
    summary = balance_summary(lending.session, loan.borrower_id)
    assert (summary.status, summary.reference, summary.outstanding) == (
        "active", loan.reference, 52_000)
    assert (summary.next_due_date, summary.next_due_amount) == (date(2026, 3, 23), 52_000)
    assert (summary.days_past_due, summary.credit_limit) == (18, 200_000)
    lines = statement_lines(lending.session, loan.borrower_id)
    assert [(ln.kind, ln.amount, ln.on.isoformat()) for ln in lines] == [
        ("repayment", 26_000, "2026-03-16"), ("repayment", 26_000, "2026-03-09"),
        ("disbursement", 100_000, "2026-03-02")]
    repaid = balance_summary(lending.session, loans["repaid"].borrower_id)
    assert (repaid.status, repaid.outstanding, repaid.credit_limit) == ("repaid", 0, 300_000)


def test_lookups(lending, book) -> None:
    _, loans = book
    loan = loans["part"]
    typed = " " + loan.reference[:3].lower() + " " + loan.reference[3:].lower()
    assert loan_by_reference(lending.session, typed) is loan
    assert loan_by_reference(lending.session, "MKZZZZZ") is None
    assert current_loan(lending.session, loan.borrower_id) is loan
    assert current_loan(lending.session, loans["repaid"].borrower_id) is None
    assert current_loan_reference(lending.session, loan.borrower_id) == loan.reference
    assert current_loan_reference(lending.session, loans["repaid"].borrower_id) is None
    newcomer = lending.member()
    assert balance_summary(lending.session, newcomer.id).status == "none"
    due = installments_due_on(lending.session, [date(2026, 3, 23)])
    assert sorted(d.loan_reference for d in due) == sorted(
        [loans["part"].reference, loans["unpaid"].reference])
    assert {d.amount_due for d in due} == {26_000}


def test_the_reference_help_shows_is_that_of_the_loan_that_matters_most(lending) -> None:
    product = lending.product(max_active_loans=2)
    borrower = lending.member(limit=1_000_000)
    running = lending.active(product=product, borrower=borrower)
    lending.application(product=product, borrower=borrower)  # newer, still in review
    assert current_loan(lending.session, borrower.id) is running
    assert current_loan_reference(lending.session, borrower.id) == running.reference


def test_the_balance_is_of_the_loan_that_matters_most_with_its_penalties(lending, clock) -> None:
    product = lending.product(max_active_loans=2)
    borrower = lending.member(limit=400_000)
    active = lending.active(product=product, borrower=borrower)
    newer = lending.application(product=product, borrower=borrower, amount=50_000)
    first = active.installments[0]
    first.penalty_charged = 1_234  # a late fee counts in what she owes and in the next due
    lending.session.flush()
    clock.set(datetime.combine(first.due_date, datetime.min.time(), tzinfo=UTC))
    summary = balance_summary(lending.session, borrower.id)
    assert newer.status == "pending_review" and summary.reference == active.reference
    owed = sum(row.outstanding for row in active.installments)
    assert (summary.status, summary.outstanding) == ("active", owed)
    assert (summary.next_due_date, summary.next_due_amount) == (
        first.due_date, first.principal + first.interest + 1_234)
    assert summary == balance_summary(lending.session, borrower.id, active)  # the held loan
