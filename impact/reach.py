"""Reach figures for one lender or the whole platform: who was reached and how money came back.

Definitions (also in docs/lenders.md):
- borrowers reached: distinct borrowers of disbursed loans the lender funded;
- women borrowers: those of them whose member record says `f`;
- sectors: disbursed loans funded, counted by sector;
- repayment rate: principal repaid / (principal repaid + principal lost), one decimal;
- money recycled: principal repaid that went out again as new loans. Per lender it is
  min(principal repaid, max(0, lent - brought in)), where "brought in" is deposits less
  withdrawals (every wallet movement outside a loan): the lender's own money is taken
  as lent first, so this is a lower bound. The platform's figure is the sum over lenders.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import Account, JournalEntry, Posting
from lending.models import (
    ACTIVE,
    DEFAULTED,
    RECOVERED,
    REPAID,
    WRITTEN_OFF,
    Loan,
    LoanFunding,
    Member,
)

DISBURSED = (ACTIVE, REPAID, DEFAULTED, WRITTEN_OFF, RECOVERED)
WALLET_PREFIX, WALLET_SUFFIX = "liability:member:", ":wallet"


@dataclass(frozen=True, slots=True)
class Impact:
    """What a lender's (or everyone's) money did."""

    borrowers_reached: int
    women_borrowers: int
    loans_funded: int
    sectors: dict[str, int]
    lent: int
    principal_repaid: int
    principal_lost: int
    money_recycled: int

    @property
    def women_share(self) -> str | None:
        """Women among borrowers reached, in percent with one decimal."""
        return _percent(self.women_borrowers, self.borrowers_reached)

    @property
    def repayment_rate(self) -> str | None:
        """Principal repaid out of principal repaid or lost, in percent with one decimal."""
        return _percent(self.principal_repaid, self.principal_repaid + self.principal_lost)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["women_share"], data["repayment_rate"] = self.women_share, self.repayment_rate
        return data


def _percent(part: int, whole: int) -> str | None:
    if whole == 0:
        return None
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_EVEN)
    return str(value)


def lender_impact(session: Session, lender_id: int) -> Impact:
    """The impact of one lender's money."""
    return _impact(session, lender_id)


def platform_impact(session: Session) -> Impact:
    """The impact of every lender's money together."""
    return _impact(session, None)


def _impact(session: Session, lender_id: int | None) -> Impact:
    query = (
        select(LoanFunding.lender_id, LoanFunding.amount, LoanFunding.principal_repaid,
               LoanFunding.principal_lost, Loan.id, Loan.status, Loan.borrower_id,
               func.coalesce(Loan.sector, Member.sector), Member.gender)
        .join(Loan, Loan.id == LoanFunding.loan_id)
        .join(Member, Member.id == Loan.borrower_id)
        .where(LoanFunding.refunded_at.is_(None))
    )
    if lender_id is not None:
        query = query.where(LoanFunding.lender_id == lender_id)
    rows = session.execute(query).all()
    reached = {row.borrower_id: row.gender for row in rows if row.status in DISBURSED}
    loans = {row.id: row[7] or "other" for row in rows if row.status in DISBURSED}
    return Impact(
        borrowers_reached=len(reached),
        women_borrowers=sum(1 for gender in reached.values() if gender == "f"),
        loans_funded=len(loans),
        sectors=dict(sorted(Counter(loans.values()).items())),
        lent=sum(row.amount for row in rows),
        principal_repaid=sum(row.principal_repaid for row in rows),
        principal_lost=sum(row.principal_lost for row in rows),
        money_recycled=_recycled(session, rows, lender_id),
    )


def _recycled(session: Session, rows: Sequence[Any], lender_id: int | None) -> int:
    lent: dict[int, int] = defaultdict(int)
    repaid: dict[int, int] = defaultdict(int)
    for row in rows:
        lent[row.lender_id] += row.amount
        repaid[row.lender_id] += row.principal_repaid
    brought_in = _brought_in(session, lender_id)
    return sum(min(repaid[lender], max(0, lent[lender] - brought_in.get(lender, 0)))
               for lender in lent)


def _brought_in(session: Session, lender_id: int | None) -> dict[int, int]:
    """Each wallet's net movements outside any loan (deposits less withdrawals), by lender."""
    query = (
        select(Account.code, func.sum(-Posting.amount))
        .join(Posting, Posting.account_id == Account.id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(JournalEntry.loan_id.is_(None))
        .group_by(Account.code)
    )
    if lender_id is None:
        query = query.where(Account.code.like(f"{WALLET_PREFIX}%{WALLET_SUFFIX}"))
    else:
        query = query.where(Account.code == f"{WALLET_PREFIX}{lender_id}{WALLET_SUFFIX}")
    return {int(code.removeprefix(WALLET_PREFIX).removesuffix(WALLET_SUFFIX)): int(total)
            for code, total in session.execute(query)}
