"""The chart of accounts: what an account is, and the accounts every package shares.

Sign convention: a posting's amount is positive for a debit and negative for
a credit, in integer minor units. Assets and expenses carry debit (positive)
balances; liabilities, income and equity carry credit (negative) balances.
`normal_balance` turns a balance into the figure a person expects to read.
"""

from __future__ import annotations

from dataclasses import dataclass

ASSET, LIABILITY, INCOME, EXPENSE, EQUITY = "asset", "liability", "income", "expense", "equity"
KINDS = (ASSET, LIABILITY, INCOME, EXPENSE, EQUITY)
DEBIT_NORMAL = {ASSET, EXPENSE}


@dataclass(frozen=True)
class AccountSpec:
    """What an account is, so that posting to it can create it on first use."""

    code: str
    kind: str
    name: str = ""
    no_overdraft: bool = False


def normal_balance(kind: str, balance: int) -> int:
    return balance if kind in DEBIT_NORMAL else -balance


def debit(spec: AccountSpec, amount: int) -> tuple[AccountSpec, int]:
    return spec, amount


def credit(spec: AccountSpec, amount: int) -> tuple[AccountSpec, int]:
    return spec, -amount


# --- the chart of accounts -------------------------------------------------

MOBILE_MONEY_FLOAT = AccountSpec("asset:mpesa:float", ASSET, "M-Pesa float (paybill + B2C)")
SUSPENSE = AccountSpec("liability:suspense", LIABILITY, "Unmatched receipts (suspense)")
INTEREST_INCOME = AccountSpec("income:interest", INCOME, "Platform share of interest")
FEE_INCOME = AccountSpec("income:fees", INCOME, "Upfront fees")
PENALTY_INCOME = AccountSpec("income:penalties", INCOME, "Late penalties")
WRITE_OFF_EXPENSE = AccountSpec("expense:write-off", EXPENSE, "Written-off platform receivables")
RECOVERY_INCOME = AccountSpec("income:recoveries", INCOME, "Recoveries after write-off")


def loan_principal(loan_id: int) -> AccountSpec:
    return AccountSpec(f"asset:loan:{loan_id}:principal", ASSET, "Principal receivable")


def loan_penalties(loan_id: int) -> AccountSpec:
    return AccountSpec(f"asset:loan:{loan_id}:penalties", ASSET, "Penalties receivable")


def loan_participation(loan_id: int) -> AccountSpec:
    """What the platform owes the loan's lenders: their principal, paid through as collected."""
    return AccountSpec(
        f"liability:loan:{loan_id}:lenders", LIABILITY, "Lenders' participation", True
    )


WALLET_CODE = ("liability:member:", ":wallet")
"""A lender wallet's code around the member's id, for SQL that builds it from a column."""


def lender_wallet(member_id: int) -> AccountSpec:
    return AccountSpec(f"{WALLET_CODE[0]}{member_id}{WALLET_CODE[1]}", LIABILITY,
                       "Lender wallet", True)


def borrower_credit(member_id: int) -> AccountSpec:
    return AccountSpec(
        f"liability:member:{member_id}:credit", LIABILITY, "Borrower credit balance", True
    )
