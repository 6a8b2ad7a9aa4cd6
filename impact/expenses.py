"""Operating expenses, booked in the ledger so that the cost ratio is computed, not typed.

An expense is one balanced entry: Dr `expense:operations:<category>`, Cr
`equity:platform:funding` (the platform's owners paid it; the lenders' and borrowers'
money never pays the platform's costs). The entry's key is the caller's idempotency
key, so recording the same expense twice books it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from core.db import insert_once
from impact.models import OperatingExpense
from ledger import EQUITY, EXPENSE, AccountSpec

CATEGORIES = ("staff", "field", "sms", "mobile_money_fees", "technology", "premises", "other")
EXPENSE_PREFIX = "expense:operations:"
MAX_AMOUNT = 10**13  # KES 100 billion: anything larger is a typing mistake
PLATFORM_FUNDING = AccountSpec("equity:platform:funding", EQUITY, "Paid in by the platform")


class ExpenseInvalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True, slots=True)
class ExpenseRequest:
    key: str
    category: str
    amount: int
    description: str
    incurred_on: datetime


def operating_account(category: str) -> AccountSpec:
    return AccountSpec(f"{EXPENSE_PREFIX}{category}", EXPENSE, f"Operating expense: {category}")


def record_operating_expense(session: Session, request: ExpenseRequest, actor: str
                             ) -> OperatingExpense:
    """Book an operating expense once per key (the caller commits)."""
    if request.category not in CATEGORIES:
        raise ExpenseInvalid("category", f"one of {', '.join(CATEGORIES)}")
    if isinstance(request.amount, bool) or not isinstance(request.amount, int) \
            or not 0 < request.amount <= MAX_AMOUNT:
        raise ExpenseInvalid("amount", f"a whole number of minor units from 1 to {MAX_AMOUNT}")
    if not isinstance(request.key, str) or not 0 < len(request.key) <= 100 \
            or not request.key.isprintable():
        raise ExpenseInvalid("key", "an idempotency key of 1 to 100 printable characters")
    if not isinstance(request.description, str) or not request.description.isprintable():
        raise ExpenseInvalid("description", "printable text")
    entry = ledger.post(
        session, f"opex:{request.key}", "operating_expense",
        [(operating_account(request.category), request.amount),
         (PLATFORM_FUNDING, -request.amount)],
        description=request.description[:200], occurred_at=request.incurred_on,
    )
    row = insert_once(session, OperatingExpense, dict(
        key=request.key, category=request.category, amount=request.amount,
        description=request.description[:200], incurred_on=request.incurred_on,
        journal_entry_id=entry.id, created_by=actor[:80],
    ), key="key")
    if row is None:
        row = session.scalars(select(OperatingExpense)
                              .where(OperatingExpense.key == request.key)).one()
    return row
