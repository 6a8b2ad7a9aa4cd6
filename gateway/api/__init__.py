"""The JSON API under /api/v1: the blueprint (`base`) and the endpoint modules.

Each endpoint module adds its routes to `bp` with `base.endpoint`; every one is named here.
"""

from __future__ import annotations

from gateway.api import (
    impact,
    insurance,
    ledger,
    lenders,
    loans,
    members,
    payouts,
    products,
    reconciliation,
    savings,
    transparency,
)
from gateway.api.base import SPEC, ApiError, bp

ENDPOINT_MODULES = (products, loans, lenders, reconciliation, ledger, members, payouts,
                    savings, insurance, impact, transparency)

__all__ = ["ENDPOINT_MODULES", "SPEC", "ApiError", "bp"]
