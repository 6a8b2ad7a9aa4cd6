"""The underwriter's capital: what lets the pool pay claims before premiums have built it up.

A credit-life claim settles a whole loan, far more than its own premium, so a
young pool needs capital behind it. The underwriter commits an amount; an
operator records it (key `bima-capital:{key}`): Dr underwriter receivable /
Cr insurance pool. The money itself stays with the underwriter until the
platform calls it in, which is outside this package (it arrives as any M-Pesa
or bank receipt and is reconciled against the receivable). Capital is not
premium: it does not enter the loss ratio.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

import ledger
from insurance.accounts import INSURANCE_POOL, UNDERWRITER
from insurance.errors import InsuranceError
from ledger import credit, debit

MAX_CAPITAL = 10**12


def commit_capital(session: Session, *, amount: int, actor: str, key: str,
                   currency: str = "KES") -> ledger.JournalEntry:
    """Record capital the underwriter commits to the pool, once per key."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_CAPITAL:
        raise InsuranceError("invalid_amount", "a positive amount in minor units", field="amount")
    if not key or len(key) > 100:
        raise InsuranceError("invalid_key", "a key of 1-100 characters", field="key")
    try:
        return ledger.post(
            session, f"bima-capital:{key}", "insurance_capital",
            [debit(UNDERWRITER, amount), credit(INSURANCE_POOL, amount)], currency=currency,
            description="Underwriter capital committed to the insurance pool",
            meta={"actor": actor[:80]},
        )
    except ledger.IdempotencyConflict:
        raise InsuranceError("key_conflict", "this key was used for another amount") from None
