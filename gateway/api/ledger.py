"""The ledger, read-only: the trial balance."""

from __future__ import annotations

from flask import jsonify

import ledger
from gateway.api.base import bp, endpoint
from gateway.database import get_session

assert bp  # the routes below register on the API blueprint


@endpoint("/ledger/trial-balance", "GET", summary="Every account's balance; the total is 0",
          roles=("operator",))
def trial_balance():
    """Every account with its signed and normal balance, and the total per currency."""
    tb = ledger.trial_balance(get_session())
    return jsonify(
        accounts=[{"code": line.code, "kind": line.kind, "currency": line.currency,
                   "balance": line.balance, "normal_balance": line.normal_balance}
                  for line in tb.lines],
        totals=tb.totals(),
        balanced=tb.balanced,
    )
