"""Knobs of the payments package, read from the environment once (extends CONTRACT's list).

| variable | meaning | default |
|---|---|---|
| `MPESA_C2B_VALIDATION` | `accept` every paybill payment, or `reject_unknown` accounts | `accept` |
| `MPESA_STK_DEADLINE_SECONDS` | when an unanswered STK push is settled by STK query | 180 |
| `MPESA_B2C_DEADLINE_SECONDS` | when a B2C without a result is settled by status query | 600 |
| `MPESA_MAX_STATUS_QUERIES` | queries before an intent becomes a `stale_pending` break | 5 |
| `MPESA_ORPHAN_GRACE_SECONDS` | how long a callback may wait for its intent | 900 |
| `MPESA_PROCESSING_DELAY` | test hook: seconds to sleep inside processing before commit | 0 |
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

ACCEPT, REJECT_UNKNOWN = "accept", "reject_unknown"
_CASTS: dict[str, Any] = {"str": str, "int": int, "float": float}


@dataclass(frozen=True)
class PaymentsConfig:
    c2b_validation: str = ACCEPT
    stk_deadline_seconds: int = 180
    b2c_deadline_seconds: int = 600
    max_status_queries: int = 5
    orphan_grace_seconds: int = 900
    processing_delay: float = 0.0

    @property
    def stk_deadline(self) -> timedelta:
        return timedelta(seconds=self.stk_deadline_seconds)

    @property
    def b2c_deadline(self) -> timedelta:
        return timedelta(seconds=self.b2c_deadline_seconds)

    @property
    def orphan_grace(self) -> timedelta:
        return timedelta(seconds=self.orphan_grace_seconds)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PaymentsConfig:
        """Read every field from its `MPESA_…` variable, keeping defaults for the unset ones."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f"MPESA_{f.name.upper()}")
            if raw:
                values[f.name] = _CASTS[str(f.type)](raw)
        config = cls(**values)
        if config.c2b_validation not in (ACCEPT, REJECT_UNKNOWN):
            raise ValueError(f"MPESA_C2B_VALIDATION must be {ACCEPT} or {REJECT_UNKNOWN}")
        return config


_config: PaymentsConfig | None = None


def config() -> PaymentsConfig:
    """This process's payments configuration."""
    global _config
    if _config is None:
        _config = PaymentsConfig.from_env()
    return _config


@contextmanager
def overridden(**changes: Any) -> Iterator[PaymentsConfig]:
    """Use a changed configuration for the duration of a block (tests, the CLI)."""
    global _config
    previous = config()
    _config = dataclasses.replace(previous, **changes)
    try:
        yield _config
    finally:
        _config = previous
