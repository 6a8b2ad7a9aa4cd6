"""The platform's public figures, per field partner and platform-wide, computed on request.

Nothing here is a stored constant: every figure comes from the ledger (postings) or
the loan book (loans, installments, members), as of `today`. The method, figure by
figure, is `METHOD` (shown on the page and in the JSON) and docs/transparency.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from impact.expenses import EXPENSE_PREFIX
from impact.models import Survey
from impact.reports import change_report, respondents
from impact.statistics import MIN_CELL
from ledger import Account, JournalEntry, Posting
from lending.models import FieldPartner, Loan
from lending.portfolio import figures

WINDOW_DAYS = 365
ONE_DECIMAL = Decimal("0.1")

METHOD: dict[str, str] = {
    "loans": "Loans disbursed (any status since) and the principal disbursed, from the loan "
             "book.",
    "outstanding_principal": "Sum of the postings on every loan's principal receivable account "
                             "in the ledger.",
    "repayment_rate": "Principal and interest collected on installments due up to today, over "
                      "the principal and interest that fell due by today.",
    "par30": "Outstanding principal of loans more than 30 days past due, over all outstanding "
             "principal.",
    "default_rate": "Unpaid principal of defaulted and written-off loans, over all principal "
                    "disbursed.",
    "write_off_rate": "Principal written off (ledger entries of kind loan_write_off), over all "
                      "principal disbursed.",
    "average_apr": "APR of each disbursed loan (EU Consumer Credit Directive formula, as "
                   "disclosed before she accepted), averaged weighted by loan amount.",
    "cost_of_credit": "Everything borrowers repay beyond what they received (interest and "
                      "fees), per 100 received: sum(total repayable - net disbursed) / "
                      "sum(net disbursed).",
    "operating_cost_ratio": "Platform operating expenses (ledger accounts expense:operations:*) "
                            "over the window (the last 365 days, or since the first "
                            "disbursement if later), scaled to a year, over the average "
                            "outstanding principal (ledger, at each month end in the window "
                            "and today). Platform-wide only: expenses are not allocated to "
                            "field partners.",
    "women_share": "Women among the distinct borrowers of disbursed loans (gender as "
                   "registered).",
    "impact": "Borrowers in the survey sample who answered a baseline and a follow-up: the "
              "change of their 0-100 score per dimension (latest follow-up minus baseline), "
              "mean with a 95% Student t interval. Groups of fewer than 5 are not shown.",
}


def _pct(part: int | Decimal, whole: int | Decimal) -> str | None:
    if not whole:
        return None
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(ONE_DECIMAL, ROUND_HALF_EVEN))


@dataclass(frozen=True)
class Scope:
    """Everyone (field_partner_id None) or one field partner's loans."""

    field_partner_id: int | None = None

    def loans(self) -> list[ColumnElement[bool]]:
        if self.field_partner_id is None:
            return []
        return [Loan.field_partner_id == self.field_partner_id]


def loan_book_figures(session: Session, scope: Scope, today: date) -> dict[str, Any]:
    """Counts, amounts, rates and prices from the loans and their installments."""
    loans = list(session.scalars(select(Loan).where(Loan.disbursed_at.is_not(None),
                                                    *scope.loans()).order_by(Loan.id)))
    health = figures(loans, today)
    amount = sum(loan.amount for loan in loans)
    net = sum(loan.net_disbursed for loan in loans)
    cost = sum(loan.total_repayable - loan.net_disbursed for loan in loans)
    weighted_apr = sum((Decimal(loan.apr) * loan.amount for loan in loans), Decimal(0))
    borrowers = {loan.borrower_id: loan.borrower.gender for loan in loans}
    return {
        "loans_disbursed": len(loans),
        "amount_disbursed": amount,
        "active_loans": health.active_loans,
        "borrowers": len(borrowers),
        "repayment_rate": _str(health.repayment_rate),
        "par30": _str(health.par_percent.get("par30")),
        "default_rate": _str(health.default_rate),
        "average_apr": None if not amount else str(
            (weighted_apr / amount).quantize(ONE_DECIMAL, ROUND_HALF_EVEN)),
        "cost_of_credit_per_100": _pct(cost, net),
        "women_share": _pct(sum(1 for g in borrowers.values() if g == "f"), len(borrowers)),
    }


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(ONE_DECIMAL, ROUND_HALF_EVEN))


def _principal_postings(scope: Scope) -> Any:
    query = (select(func.coalesce(func.sum(Posting.amount), 0))
             .join(Account, Account.id == Posting.account_id)
             .join(JournalEntry, JournalEntry.id == Posting.entry_id)
             .where(Account.code.like("asset:loan:%:principal")))
    if scope.field_partner_id is not None:
        query = query.where(JournalEntry.loan_id.in_(
            select(Loan.id).where(Loan.field_partner_id == scope.field_partner_id)))
    return query


def outstanding_at(session: Session, scope: Scope, moment: datetime) -> int:
    """Principal receivable in the ledger at `moment`."""
    return int(session.scalar(_principal_postings(scope)
                              .where(JournalEntry.occurred_at <= moment)) or 0)


def written_off(session: Session, scope: Scope) -> int:
    """Principal taken off the receivables by write-offs (ledger)."""
    return -int(session.scalar(_principal_postings(scope)
                               .where(JournalEntry.kind == "loan_write_off")) or 0)


def ledger_figures(session: Session, scope: Scope, amount_disbursed: int, now: datetime
                   ) -> dict[str, Any]:
    return {
        "outstanding_principal": outstanding_at(session, scope, now),
        "write_off_rate": _pct(written_off(session, scope), amount_disbursed),
    }


def operating_cost(session: Session, now: datetime, tz: str) -> dict[str, Any]:
    """Operating expenses over the window, the average portfolio, and their yearly ratio."""
    first = session.scalar(select(func.min(Loan.disbursed_at)))
    begin = max(now - timedelta(days=WINDOW_DAYS), first) if first else now
    expenses = int(session.scalar(
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(Account, Account.id == Posting.account_id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(Account.code.like(f"{EXPENSE_PREFIX}%"), JournalEntry.occurred_at > begin,
               JournalEntry.occurred_at <= now)) or 0)
    if first is None:
        return {"operating_expenses": expenses, "average_portfolio": 0,
                "operating_cost_ratio": None, "window_days": 0}
    points = [*month_ends(begin, now, tz), now]
    average = sum(outstanding_at(session, Scope(), p) for p in points) // len(points)
    days = max(1, min(WINDOW_DAYS, (now - begin).days))
    annual = Decimal(expenses) * WINDOW_DAYS / days
    return {"operating_expenses": expenses, "average_portfolio": average,
            "operating_cost_ratio": _pct(annual, average), "window_days": days}


def month_ends(begin: datetime, end: datetime, tz: str) -> list[datetime]:
    """The last instants of each local month that ends between `begin` and `end`."""
    zone = ZoneInfo(tz)
    local = begin.astimezone(zone)
    year, month = local.year, local.month
    points: list[datetime] = []
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        boundary = datetime.combine(date(year, month, 1), time(0), tzinfo=zone).astimezone(UTC)
        if boundary > end:
            return points
        if boundary > begin:
            points.append(boundary - timedelta(microseconds=1))


def impact_summary(session: Session, scope: Scope) -> dict[str, Any] | None:
    survey = session.scalars(select(Survey).where(Survey.active.is_(True))).first()
    if survey is None:
        return None
    report = change_report(session, survey, "all", field_partner_id=scope.field_partner_id)
    counts = respondents(session, survey.id, scope.field_partner_id)
    return {"survey": survey.code, "answers": counts, "min_n": MIN_CELL,
            "change": report["groups"][0] if report["groups"] else None,
            "dimensions": report["dimensions"]}


def transparency(session: Session, today: date, now: datetime, tz: str) -> dict[str, Any]:
    """Every public figure: the platform, then each field partner."""
    platform = _scope_figures(session, Scope(), today, now)
    platform.update(operating_cost(session, now, tz))
    partners = []
    for partner in session.scalars(select(FieldPartner).order_by(FieldPartner.name)):
        figures_ = _scope_figures(session, Scope(partner.id), today, now)
        partners.append({"id": partner.id, "name": partner.name, "region": partner.region,
                         **figures_})
    return {"as_of": now.isoformat(timespec="seconds"), "currency": "KES",
            "amounts_in": "minor units (cents)", "platform": platform,
            "field_partners": partners, "method": METHOD}


def _scope_figures(session: Session, scope: Scope, today: date, now: datetime
                   ) -> dict[str, Any]:
    book = loan_book_figures(session, scope, today)
    book.update(ledger_figures(session, scope, book["amount_disbursed"], now))
    book["impact"] = impact_summary(session, scope)
    return book
