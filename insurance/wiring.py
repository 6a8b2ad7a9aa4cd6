"""Plug insurance into lending and payments (`install`, called by `gateway.wiring.wire`).

- lending: the pool that receives credit-life premiums at payout, and the hook that
  opens the policy (`lending.cover`);
- payments: the two intent kinds insurance owns (`payments.kinds`): the hospital-cash
  premium (an STK collection) and the hospital-cash benefit (a B2C payout).
"""

from __future__ import annotations

from insurance import claims, policies
from insurance.accounts import INSURANCE_POOL
from lending import cover
from payments import kinds


def install() -> None:
    """Give lending the credit-life pool and hook, and payments insurance's intent kinds."""
    cover.install(cover.CoverPort(pool=INSURANCE_POOL, cover_started=policies.start_credit_life))
    kinds.register(kinds.IntentKind(
        kind=policies.PREMIUM_KIND, direction=kinds.COLLECTION,
        entry_prefix=policies.PREMIUM_ENTRY_PREFIX, on_success=policies.premium_paid,
        on_failure=policies.premium_not_paid))
    kinds.register(kinds.IntentKind(
        kind=claims.PAYOUT_KIND, direction=kinds.PAYOUT, entry_prefix="bima-claim-paid:",
        on_success=claims.benefit_paid, on_undo=claims.benefit_not_paid))
