"""How the simulated M-Pesa treats a phone's requests; scripts live in Redis."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from core import runtime
from payments.providers.simulator.records import BEHAVIOUR_KEY, STK_RESULTS


@dataclass(frozen=True)
class Behaviour:
    """How the simulated M-Pesa treats requests for a phone."""

    outcome: str = "success"
    no_callback: bool = False
    duplicates: int = 0
    out_of_order: bool = False
    delay: float = 0.0
    timeout: bool = False
    prompt: bool = False
    api_down: bool = False
    pin: str = "1234"


BEHAVIOUR_FIELDS = {f.name for f in fields(Behaviour)}


def _behaviour_key(phone: str | None) -> str:
    return BEHAVIOUR_KEY + (phone or "*")


def set_behaviour(phone: str | None, **changes: Any) -> Behaviour:
    """Script the simulator for one phone (E.164), or for every phone when `phone` is None."""
    unknown = set(changes) - BEHAVIOUR_FIELDS
    if unknown:
        raise ValueError(f"unknown simulator behaviour {sorted(unknown)}")
    if "outcome" in changes and changes["outcome"] not in STK_RESULTS:
        raise ValueError(f"outcome must be one of {sorted(STK_RESULTS)}")
    redis = runtime.current().redis
    current = json.loads(redis.get(_behaviour_key(phone)) or "{}")
    current.update(changes)
    redis.set(_behaviour_key(phone), json.dumps(current))
    return behaviour_for(phone)


def clear_behaviours() -> None:
    """Forget every script: all phones behave normally again."""
    redis = runtime.current().redis
    for key in redis.scan_iter(match=BEHAVIOUR_KEY + "*"):
        redis.delete(key)


def behaviour_for(phone: str | None) -> Behaviour:
    """The global script overlaid with the phone's own."""
    redis = runtime.current().redis
    merged: dict[str, Any] = json.loads(redis.get(_behaviour_key(None)) or "{}")
    if phone:
        merged.update(json.loads(redis.get(_behaviour_key(phone)) or "{}"))
    return Behaviour(**{k: v for k, v in merged.items() if k in BEHAVIOUR_FIELDS})
