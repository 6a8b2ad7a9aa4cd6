"""Monthly interest on savings: exact integer minor units, one ledger entry per account and month.

The rule (docs/savings.md):
- interest for a month = Σ over the month's days of the account's closing balance
  × the product's annual rate ÷ 365 (actual/365), computed as an exact fraction
  and rounded once, half to even, to a minor unit;
- days are local days (Africa/Nairobi); a month is credited only once it has ended;
- the entry is Dr `expense:savings-interest` / Cr the savings account, with the
  key `savings-interest:{account}:{YYYY-MM}`, dated the first instant of the next
  month (so it earns interest from then on: monthly compounding);
- a month already credited is skipped, so running the job twice, or late, changes
  nothing; money that arrives for a month after it was credited earns nothing for it.

Each account's interest is one amount rounded once, so there is nothing to share
out: largest remainder is not needed here (it splits chama pots, see `chamas`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from ledger import Account, JournalEntry, Posting, credit, debit
from lending.localtime import timezone_name
from lending.schedule import add_months
from savings.chart import SAVINGS_INTEREST_EXPENSE, savings_account
from savings.models import OPEN, SavingsAccount, SavingsProduct

logger = logging.getLogger(__name__)

DAYS_IN_YEAR = 365
BASIS = 10_000


def round_half_even(value: Fraction) -> int:
    """The nearest integer, ties to the even one."""
    floor, remainder = divmod(value.numerator, value.denominator)
    twice = 2 * remainder
    if twice > value.denominator or (twice == value.denominator and floor % 2 == 1):
        return floor + 1
    return floor


def exact_interest(closing_balances: Sequence[int], annual_rate_bp: int) -> Fraction:
    """A month's interest before rounding, in minor units: Σ balance × rate / 365."""
    positive = sum(max(0, b) for b in closing_balances)
    return Fraction(positive * annual_rate_bp, BASIS * DAYS_IN_YEAR)


def monthly_interest(closing_balances: Sequence[int], annual_rate_bp: int) -> int:
    """A month's interest in whole minor units (half-even)."""
    return round_half_even(exact_interest(closing_balances, annual_rate_bp))


def month_start(month: date) -> date:
    return month.replace(day=1)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(timezone_name()))


def month_key(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def interest_key(account_id: int, month: date) -> str:
    return f"savings-interest:{account_id}:{month_key(month)}"


def closing_balances(session: Session, account_id: int, month: date) -> list[int]:
    """The account's balance at the end of each local day of the month (normal sign)."""
    first = month_start(month)
    next_first = add_months(first, 1)
    start, end = _local_midnight(first), _local_midnight(next_first)
    rows = session.execute(
        select(JournalEntry.occurred_at, Posting.amount)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(Account.code == savings_account(account_id).code, JournalEntry.occurred_at < end)
    ).all()
    zone = ZoneInfo(timezone_name())
    opening = 0
    by_day: dict[date, int] = defaultdict(int)
    for occurred_at, amount in rows:
        moved = -int(amount)  # a liability: credits (negative) raise what we owe the saver
        if occurred_at < start:
            opening += moved
        else:
            by_day[occurred_at.astimezone(zone).date()] += moved
    balances, running = [], opening
    day = first
    while day < next_first:
        running += by_day.get(day, 0)
        balances.append(running)
        day += timedelta(days=1)
    return balances


@dataclass(frozen=True, slots=True)
class InterestRun:
    month: str
    credited: int  # accounts credited by this run
    skipped: int  # accounts credited before (an earlier run)
    total: int  # minor units credited by this run


def credit_month(session: Session, month: date, today: date) -> InterestRun:
    """Credit every open account's interest for `month` (which must have ended by `today`)."""
    first = month_start(month)
    if add_months(first, 1) > today:
        raise ValueError(f"{month_key(first)} has not ended yet")
    credited = skipped = total = 0
    rows = session.execute(
        select(SavingsAccount, SavingsProduct.annual_rate_bp)
        .join(SavingsProduct, SavingsProduct.id == SavingsAccount.product_id)
        .where(SavingsAccount.status == OPEN, SavingsAccount.created_at < _local_midnight(
            add_months(first, 1)))
        .order_by(SavingsAccount.id)).all()
    for account, rate in rows:
        key = interest_key(account.id, first)
        if session.scalar(select(JournalEntry.id).where(JournalEntry.key == key)) is not None:
            skipped += 1
            continue
        amount = monthly_interest(closing_balances(session, account.id, first), rate)
        if amount <= 0:
            continue
        ledger.post(session, key, "savings_interest",
                    [debit(SAVINGS_INTEREST_EXPENSE, amount),
                     credit(savings_account(account.id), amount)],
                    currency=account.currency, member_id=account.member_id,
                    occurred_at=_local_midnight(add_months(first, 1)),
                    description=f"Interest {month_key(first)}: {account.name}",
                    meta={"account_id": account.id, "month": month_key(first),
                          "rate_bp": rate, "amount": amount})
        credited += 1
        total += amount
    logger.info("savings interest %s: %s accounts, %s minor units", month_key(first), credited,
                total)
    return InterestRun(month_key(first), credited, skipped, total)
