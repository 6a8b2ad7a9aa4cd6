"""Portfolio health: outstanding principal, PAR, repayment and default rates; lender books.

Definitions (docs/lending.md):
- outstanding principal: unpaid principal of active and defaulted loans;
- PAR1/PAR30/PAR90: the outstanding principal of loans at least 1 / 31 / 91 days past
  due, and its share of all outstanding principal;
- repayment rate: principal and interest collected on installments due up to today,
  divided by the principal and interest that fell due by today (prepayments of
  installments not yet due do not count);
- default rate: unpaid principal of defaulted and written-off loans divided by all
  principal disbursed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from lending.arrears import PAR1, PAR30, PAR90, PAR_THRESHOLDS
from lending.loans import days_past_due, principal_outstanding
from lending.models import (
    DEFAULTED,
    RECOVERED,
    REPAYABLE_STATUSES,
    WRITTEN_OFF,
    Loan,
    LoanFunding,
)

BAD_STATUSES = (DEFAULTED, WRITTEN_OFF, RECOVERED)
PERCENT = Decimal("0.01")


def percent(part: int, whole: int) -> Decimal | None:
    """part / whole in percent to two decimals (half-even); None when whole is 0."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / whole).quantize(PERCENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class PortfolioFigures:
    """The health of a set of disbursed loans on one day."""

    loans: int
    active_loans: int
    disbursed: int
    outstanding_principal: int
    par: dict[str, int]
    due_to_date: int
    collected_to_date: int
    defaulted_principal: int
    par_percent: dict[str, Decimal | None] = field(default_factory=dict)

    @property
    def par1_percent(self) -> Decimal | None:
        return self.par_percent.get(PAR1)

    @property
    def par30_percent(self) -> Decimal | None:
        return self.par_percent.get(PAR30)

    @property
    def par90_percent(self) -> Decimal | None:
        return self.par_percent.get(PAR90)

    @property
    def repayment_rate(self) -> Decimal | None:
        return percent(self.collected_to_date, self.due_to_date)

    @property
    def default_rate(self) -> Decimal | None:
        return percent(self.defaulted_principal, self.disbursed)


def figures(loans: Sequence[Loan], today: date) -> PortfolioFigures:
    """Portfolio figures for these loans (only disbursed ones count)."""
    out = [loan for loan in loans if loan.disbursed_at is not None]
    live = [loan for loan in out if loan.status in REPAYABLE_STATUSES]
    outstanding = sum(principal_outstanding(loan) for loan in live)
    par = {
        name: sum(principal_outstanding(loan) for loan in live
                  if days_past_due(loan, today) >= days)
        for name, days in PAR_THRESHOLDS.items()
    }
    due_rows = [row for loan in out for row in loan.installments if row.due_date <= today]
    return PortfolioFigures(
        loans=len(out), active_loans=len(live), disbursed=sum(loan.amount for loan in out),
        outstanding_principal=outstanding, par=par,
        due_to_date=sum(row.amount for row in due_rows),
        collected_to_date=sum(row.principal_paid + row.interest_paid for row in due_rows),
        defaulted_principal=sum(
            principal_outstanding(loan) for loan in out if loan.status in BAD_STATUSES
        ),
        par_percent={name: percent(amount, outstanding) for name, amount in par.items()},
    )


def _disbursed(session: Session, *conditions: ColumnElement[bool]) -> list[Loan]:
    query = select(Loan).where(Loan.disbursed_at.is_not(None), *conditions)
    return list(session.scalars(query.order_by(Loan.id)))


def platform_portfolio(session: Session, today: date) -> PortfolioFigures:
    """Figures for every loan on the platform."""
    return figures(_disbursed(session), today)


def field_partner_portfolio(
    session: Session, field_partner_id: int, today: date
) -> PortfolioFigures:
    """Figures for the loans of one field partner's borrowers."""
    return figures(_disbursed(session, Loan.field_partner_id == field_partner_id), today)


@dataclass(frozen=True)
class LenderPortfolio:
    """A lender's book: what they lent, got back, still have out, and lost."""

    loans: int
    lent: int
    repaid: int
    interest_earned: int
    outstanding: int
    lost: int
    recovered: int


def lender_portfolio(session: Session, lender_id: int) -> LenderPortfolio:
    """Totals over a lender's stakes that were not refunded."""
    stakes = list(session.scalars(
        select(LoanFunding).where(LoanFunding.lender_id == lender_id,
                                  LoanFunding.refunded_at.is_(None))
    ))
    return LenderPortfolio(
        loans=len({s.loan_id for s in stakes}), lent=sum(s.amount for s in stakes),
        repaid=sum(s.principal_repaid for s in stakes),
        interest_earned=sum(s.interest_earned for s in stakes),
        outstanding=sum(s.principal_outstanding for s in stakes),
        lost=sum(s.principal_lost for s in stakes), recovered=sum(s.recovered for s in stakes),
    )
