"""Regular saving raises the credit limit: the months are counted here, applied by lending.

A month counts when the member's deposits into their savings accounts and
their chama contributions that month (local time) add up to at least
`lending.protection.SAVING_MINIMUM`. The streak is the number of consecutive
such months ending with the month just closed; `lending.protection.on_regular_saving`
turns a streak of 3, 6, 9 … months into a raise (the rule is documented there
and in docs/savings.md).
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import MOBILE_MONEY_FLOAT, Account, JournalEntry, Posting
from lending.localtime import timezone_name
from lending.models import LimitChange, Member
from lending.protection import SAVING_MINIMUM, on_regular_saving
from lending.schedule import add_months

SAVING_ENTRIES = ("savings_deposit", "chama_contribution")
LOOK_BACK = 24  # months: a longer streak than this counts as 24


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(timezone_name()))


def saved_in_month(session: Session, member_id: int, month: date) -> int:
    """What the member paid into savings and chamas in the local month of `month`."""
    first = month.replace(day=1)
    total = session.scalar(
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .where(JournalEntry.member_id == member_id, JournalEntry.kind.in_(SAVING_ENTRIES),
               Account.code == MOBILE_MONEY_FLOAT.code,
               JournalEntry.occurred_at >= _midnight(first),
               JournalEntry.occurred_at < _midnight(add_months(first, 1))))
    return int(total or 0)


def streak(session: Session, member_id: int, month: date) -> int:
    """Consecutive months, ending with `month`, in which the member saved enough."""
    first = month.replace(day=1)
    count = 0
    while count < LOOK_BACK and saved_in_month(session, member_id,
                                               add_months(first, -count)) >= SAVING_MINIMUM:
        count += 1
    return count


def savers_in_month(session: Session, month: date) -> list[int]:
    first = month.replace(day=1)
    return list(session.scalars(
        select(JournalEntry.member_id).distinct()
        .where(JournalEntry.kind.in_(SAVING_ENTRIES), JournalEntry.member_id.is_not(None),
               JournalEntry.occurred_at >= _midnight(first),
               JournalEntry.occurred_at < _midnight(add_months(first, 1)))))


def apply_month(session: Session, month: date) -> list[LimitChange]:
    """Raise the limits regular saving earned by the end of `month`; once per member and month."""
    key = f"{month.year:04d}-{month.month:02d}"
    changes = []
    for member_id in sorted(savers_in_month(session, month)):
        if session.get(Member, member_id) is None:
            continue
        change = on_regular_saving(session, member_id, key, streak(session, member_id, month))
        if change is not None:
            changes.append(change)
    return changes
