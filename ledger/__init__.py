"""The double-entry ledger: the truth about every shilling.

A leaf package: it imports only `core`, and every other package may import it.

- `ledger.chart`  what an account is (`AccountSpec`, kinds, sign convention) and the
                  accounts every package shares (the float, suspense, income, wallets, loans)
- `ledger.models` the tables: accounts, journal entries, postings
- `ledger.book`   posting a balanced entry under an idempotency key, reversing it, and
                  reading balances, the trial balance and `verify()`

Callers use this module's names (`ledger.post(...)`, `from ledger import lender_wallet`);
the submodules are how the package is laid out, not separate interfaces.
"""

from ledger.book import (
    AccountRow,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    Posted,
    TrialBalance,
    TrialBalanceLine,
    Unbalanced,
    Verification,
    accounts,
    balance,
    balance_column,
    entries_for_member,
    get_account,
    lock_account,
    post,
    post_entry,
    reverse,
    trial_balance,
    verify,
)
from ledger.chart import (
    ASSET,
    DEBIT_NORMAL,
    EQUITY,
    EXPENSE,
    FEE_INCOME,
    INCOME,
    INTEREST_INCOME,
    KINDS,
    LIABILITY,
    MOBILE_MONEY_FLOAT,
    PENALTY_INCOME,
    RECOVERY_INCOME,
    SUSPENSE,
    WALLET_CODE,
    WRITE_OFF_EXPENSE,
    AccountSpec,
    borrower_credit,
    credit,
    debit,
    lender_wallet,
    loan_participation,
    loan_penalties,
    loan_principal,
    normal_balance,
)
from ledger.models import Account, JournalEntry, Posting

__all__ = [
    "ASSET", "DEBIT_NORMAL", "EQUITY", "EXPENSE", "FEE_INCOME", "INCOME", "INTEREST_INCOME",
    "KINDS", "LIABILITY", "MOBILE_MONEY_FLOAT", "PENALTY_INCOME", "RECOVERY_INCOME", "SUSPENSE",
    "WALLET_CODE", "WRITE_OFF_EXPENSE", "Account", "AccountRow", "AccountSpec",
    "IdempotencyConflict", "InsufficientFunds", "JournalEntry", "LedgerError", "Posted", "Posting",
    "TrialBalance", "TrialBalanceLine", "Unbalanced", "Verification", "accounts", "balance",
    "balance_column", "borrower_credit", "credit", "debit", "entries_for_member", "get_account",
    "lender_wallet", "loan_participation", "loan_penalties", "loan_principal", "lock_account",
    "normal_balance", "post", "post_entry", "reverse", "trial_balance", "verify",
]
