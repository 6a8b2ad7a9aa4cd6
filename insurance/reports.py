"""Figures an operator reads: the pool, premiums earned, claims paid, the loss ratio.

All of them come from the ledger's postings, not from the policy and claim tables:
- premiums earned: what was credited to the pool as premium (credit-life premiums in
  the disbursement entries, hospital-cash premiums in `insurance_premium` entries).
  Every premium buys cover that starts at once and is not refunded, so it is earned
  when collected (no unearned-premium reserve; see docs/insurance.md);
- claims paid: loan balances settled from the pool (`loan_repayment` entries debiting
  it) plus hospital benefits that reached M-Pesa (`insurance_claim_paid` entries);
- loss ratio = claims paid / premiums earned, in percent to one decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

import ledger
from insurance.accounts import INSURANCE_POOL
from ledger import Account, JournalEntry, Posting

PREMIUM_KINDS = ("loan_disbursement", "insurance_premium")
CLAIM_PAYING_CODES = "liability:insurance:claim:%:paying"


@dataclass(frozen=True, slots=True)
class PoolSummary:
    """The pool and its ratios, in minor units."""

    currency: str
    premiums_earned: int
    claims_paid: int
    pool_balance: int
    benefits_in_flight: int

    @property
    def loss_ratio(self) -> Decimal | None:
        """Claims paid per premium earned, in percent (one decimal); None before any premium."""
        if self.premiums_earned <= 0:
            return None
        ratio = Decimal(self.claims_paid) * 100 / Decimal(self.premiums_earned)
        return ratio.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)

    def to_json(self) -> dict[str, object]:
        ratio = self.loss_ratio
        return {"currency": self.currency, "premiums_earned": self.premiums_earned,
                "claims_paid": self.claims_paid, "pool_balance": self.pool_balance,
                "benefits_in_flight": self.benefits_in_flight,
                "loss_ratio": None if ratio is None else str(ratio)}


def pool_summary(session: Session, currency: str = "KES") -> PoolSummary:
    """Premiums, claims and the loss ratio, from the postings."""
    rows = session.execute(
        select(Account.code, JournalEntry.kind, func.coalesce(func.sum(Posting.amount), 0))
        .join(Posting, Posting.account_id == Account.id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(or_(Account.code == INSURANCE_POOL.code, Account.code.like(CLAIM_PAYING_CODES)),
               Posting.currency == currency)
        .group_by(Account.code, JournalEntry.kind)
    ).all()
    premiums = settled_loans = benefits_paid = in_flight = 0
    for code, kind, total in rows:
        total = int(total)
        if code == INSURANCE_POOL.code:
            if kind in PREMIUM_KINDS:
                premiums -= total  # credits are negative
            elif kind == "loan_repayment":
                settled_loans += total
        else:
            in_flight -= total  # what is held and not yet paid or released
            if kind == "insurance_claim_paid":
                benefits_paid += total
    return PoolSummary(
        currency=currency, premiums_earned=premiums, claims_paid=settled_loans + benefits_paid,
        pool_balance=ledger.balance(session, INSURANCE_POOL), benefits_in_flight=in_flight)
