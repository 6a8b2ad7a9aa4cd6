"""Accounts the payments package adds to the chart of accounts in `payments.ledger`."""

from __future__ import annotations

from payments.ledger import LIABILITY, AccountSpec

WITHDRAWALS_IN_FLIGHT = AccountSpec(
    "liability:mpesa:withdrawals-in-flight", LIABILITY,
    "Lender withdrawals held while M-Pesa pays them out", True,
)
"""Money taken from a lender's wallet at request time and owed to them until B2C settles.

Holding it here means the same shilling cannot be withdrawn, or lent, twice
while the payout is in flight; `no_overdraft` catches a double release.
"""
