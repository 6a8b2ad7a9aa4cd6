"""Accounts the payments package adds to the chart of accounts in `ledger.chart`."""

from __future__ import annotations

from ledger import LIABILITY, AccountSpec


def withdrawals_in_flight(member_id: int) -> AccountSpec:
    """Money taken from a lender's wallet at request time and owed to them until B2C settles.

    Holding it here means the same shilling cannot be withdrawn, or lent, twice while
    the payout is in flight; `no_overdraft` catches a double release. One account per
    lender: no row shared by every withdrawal, and it is always created after the
    wallet, so the ledger's id-ordered locking takes wallet then hold, as lending does.
    """
    return AccountSpec(f"liability:member:{member_id}:withdrawing", LIABILITY,
                       "Withdrawal in flight to M-Pesa", True)
