"""SIM-swap checks: has the SIM behind a phone number changed recently?

A fresh SIM swap is how mobile-money fraud usually starts: someone takes over
a number and asks for its money. Before a payout goes to a number, the B2C
outbox handler asks the configured provider when the SIM last changed; a swap
within `SIM_SWAP_HOLD_DAYS` holds the payout for an operator (the approvals
queue in the console). The check runs only there, never on the USSD or SMS
path: it is a network call to a telco.

Providers (`SIM_SWAP_PROVIDER`):
- `camara`: the CAMARA / GSMA Open Gateway SIM Swap API ("retrieve-date"),
  which telcos and aggregators expose over HTTPS with a bearer token
  (`SIM_SWAP_API_URL`, `SIM_SWAP_API_TOKEN`); check the path and token flow
  against your provider's documentation before relying on it;
- `simulator`: answers from Redis, where the phone simulator (or a test)
  reports a swap with `report_swap`;
- `none`: no check (every payout goes out unless above the approval threshold).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

import httpx

from core import runtime
from core.clock import utcnow
from core.phones import mask_phone
from core.settings import Settings

logger = logging.getLogger(__name__)

SIMULATED_SWAP_KEY = "mkopo:sim:simswap:"
PROVIDERS = ("simulator", "camara", "none")


class SimSwapError(RuntimeError):
    """The provider gave no usable answer; the caller holds the money."""


class SimSwapProvider(Protocol):
    def last_swap(self, phone: str) -> datetime | None:
        """When the SIM behind `phone` (E.164) last changed; None when never (or unknown)."""
        ...


class NoSimSwapCheck:
    """No provider configured: no swap is ever reported."""

    def last_swap(self, phone: str) -> datetime | None:
        return None


class SimulatedSimSwap:
    """Swaps reported by the simulator, kept in Redis so that web and worker agree."""

    def last_swap(self, phone: str) -> datetime | None:
        raw = runtime.current().redis.get(SIMULATED_SWAP_KEY + phone)
        if not raw:
            return None
        return datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else str(raw))


def report_swap(phone: str, at: datetime | None = None) -> None:
    """Simulate a SIM swap on `phone` (now, or at `at`)."""
    runtime.current().redis.set(SIMULATED_SWAP_KEY + phone, (at or utcnow()).isoformat())


def forget_swaps() -> None:
    redis = runtime.current().redis
    for key in redis.scan_iter(match=SIMULATED_SWAP_KEY + "*"):
        redis.delete(key)


class CamaraSimSwap:
    """CAMARA SIM Swap `POST {base}/retrieve-date` {"phoneNumber"} -> {"latestSimChange"}."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not base_url or not token:
            raise ValueError("the camara SIM-swap provider needs SIM_SWAP_API_URL and "
                             "SIM_SWAP_API_TOKEN")
        self.base_url, self.token, self.timeout = base_url.rstrip("/"), token, timeout
        self.transport = transport

    def last_swap(self, phone: str) -> datetime | None:
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                response = client.post(
                    f"{self.base_url}/retrieve-date", json={"phoneNumber": phone},
                    headers={"Authorization": f"Bearer {self.token}",
                             "Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise SimSwapError(f"SIM-swap provider unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise SimSwapError(f"SIM-swap provider answered {response.status_code}")
        try:
            changed = response.json().get("latestSimChange")
            # A number never swapped answers null (or, with some providers, leaves it out).
            return None if changed is None else _aware(datetime.fromisoformat(
                str(changed).replace("Z", "+00:00")))
        except (ValueError, AttributeError) as exc:
            raise SimSwapError("SIM-swap provider answered something unreadable") from exc


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a SIM change time without a timezone")
    return moment


def provider_for(settings: Settings) -> SimSwapProvider:
    """The provider the settings name."""
    if settings.sim_swap_provider == "camara":
        return CamaraSimSwap(settings.sim_swap_api_url, settings.sim_swap_api_token,
                             timeout=float(settings.sim_swap_timeout))
    if settings.sim_swap_provider == "simulator":
        return SimulatedSimSwap()
    if settings.sim_swap_provider == "none":
        return NoSimSwapCheck()
    raise ValueError(f"SIM_SWAP_PROVIDER must be one of {', '.join(PROVIDERS)}")


def recent_swap(phone: str, provider: SimSwapProvider | None = None) -> datetime | None:
    """The time of a SIM swap on `phone` within the hold window, or None."""
    settings = runtime.current().settings
    provider = provider or provider_for(settings)
    changed = provider.last_swap(phone)
    if changed is not None and utcnow() - changed < timedelta(days=settings.sim_swap_hold_days):
        logger.info("recent SIM swap on %s", mask_phone(phone))
        return changed
    return None
