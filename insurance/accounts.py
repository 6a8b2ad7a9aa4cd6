"""The accounts insurance adds to the chart of accounts in the ledger.

- `liability:insurance:pool`: premiums held to pay claims. Premiums are only
  appended to it (no running balance, so disbursements never queue on its row);
  paying a claim takes its row lock and checks the balance first (`claims`), so
  two claims can never spend the same premium.
- `asset:insurance:underwriter`: capital the underwriter has committed to the pool and
  owes the platform until it pays it in, so claims can be paid from the first day,
  before premiums have built the pool up (`insurance.capital`);
- `liability:insurance:claim:{id}:paying`: a hospital-cash benefit taken out of the
  pool and on its way to the member by B2C (no overdraft: a double release fails).
"""

from __future__ import annotations

from ledger import ASSET, LIABILITY, AccountSpec

INSURANCE_POOL = AccountSpec("liability:insurance:pool", LIABILITY, "Insurance pool")
UNDERWRITER = AccountSpec("asset:insurance:underwriter", ASSET, "Underwriter capital committed")


def claim_paying(claim_id: int) -> AccountSpec:
    return AccountSpec(f"liability:insurance:claim:{claim_id}:paying", LIABILITY,
                       "Claim benefit in flight to M-Pesa", True)
