"""The accounts savings adds to the chart of accounts in `ledger`.

- `liability:savings:{account}`: what the platform owes a saver (no overdraft);
- `liability:savings:{account}:withdrawing`: a withdrawal held until its B2C settles;
- `liability:chama:{chama}:pool`: contributions not yet paid out to a round's recipient;
- `liability:chama:{chama}:paying`: a round's pot on its way to the recipient by B2C;
- `expense:savings-interest`: interest the platform pays savers.

The in-flight accounts are created after the account they hold money for, so
the ledger's id-ordered row locking takes the saver's account first, as lending
does with a lender's wallet.
"""

from __future__ import annotations

from ledger import EXPENSE, LIABILITY, AccountSpec

SAVINGS_INTEREST_EXPENSE = AccountSpec("expense:savings-interest", EXPENSE,
                                       "Interest paid to savers")


def savings_account(account_id: int) -> AccountSpec:
    return AccountSpec(f"liability:savings:{account_id}", LIABILITY, "Savings", True)


def savings_withdrawing(account_id: int) -> AccountSpec:
    return AccountSpec(f"liability:savings:{account_id}:withdrawing", LIABILITY,
                       "Savings withdrawal in flight to M-Pesa", True)


def chama_pool(chama_id: int) -> AccountSpec:
    return AccountSpec(f"liability:chama:{chama_id}:pool", LIABILITY, "Chama pool", True)


def chama_paying(chama_id: int) -> AccountSpec:
    return AccountSpec(f"liability:chama:{chama_id}:paying", LIABILITY,
                       "Chama payout in flight to M-Pesa", True)
