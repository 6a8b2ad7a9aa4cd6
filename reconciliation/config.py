"""Reconciliation's names and knobs: rules, sources, and `ReconConfig` from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

SYSTEM_ACTOR = "reconciliation"
INTENT_SOURCE, LEDGER_SOURCE = "intent", "ledger"
MATCHED, MISMATCH = "matched", "mismatch"
RULES = ("receipt", "reference", "phone_time", "one_to_many", "many_to_one")
ADVISORY_LOCK = 7_000_001  # one reconciliation at a time (PostgreSQL advisory lock id)


@dataclass(frozen=True)
class ReconConfig:
    """Matching knobs; each can be set from `RECON_<NAME>` in the environment."""

    amount_tolerance: int = 0  # minor units
    time_window_seconds: int = 15 * 60
    reference_window_seconds: int = 7 * 86_400
    group_window_seconds: int = 86_400
    intent_grace_seconds: int = 3_600
    stale_after_seconds: int = 86_400
    orphan_grace_seconds: int = 900
    pairing_passes: int = 3
    currency: str = "KES"
    pg_work_mem: str = "64MB"  # per hash of the run's joins on PostgreSQL (SET LOCAL)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReconConfig:
        """Read every knob from `RECON_…`, keeping defaults for the unset ones."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"RECON_{f.name.upper()}")
            if raw:
                values[f.name] = str(raw) if f.type in ("str", str) else int(raw)
        return cls(**values)
