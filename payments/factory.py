"""Which mobile-money provider this process talks to (settings.mobile_money_provider)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from core.settings import Settings
from payments.providers.base import MobileMoneyProvider
from payments.providers.daraja import DarajaProvider
from payments.providers.simulator import SimulatorProvider

_lock = threading.Lock()
_cache: dict[tuple[str, str, str], MobileMoneyProvider] = {}
_override: MobileMoneyProvider | None = None


def provider_for(settings: Settings) -> MobileMoneyProvider:
    """The provider named by the settings, built once per process (Daraja caches its token)."""
    if _override is not None:
        return _override
    key = (settings.mobile_money_provider, settings.public_base_url, settings.callback_token)
    with _lock:
        provider = _cache.get(key)
        if provider is None:
            provider = _cache[key] = _build(settings)
    return provider


def _build(settings: Settings) -> MobileMoneyProvider:
    if settings.mobile_money_provider == "daraja":
        return DarajaProvider(settings)
    if settings.mobile_money_provider == "simulator":
        return SimulatorProvider(settings)
    raise ValueError(f"unknown MOBILE_MONEY_PROVIDER {settings.mobile_money_provider!r}")


@contextmanager
def using_provider(provider: MobileMoneyProvider) -> Iterator[MobileMoneyProvider]:
    """Make every `provider_for` call in this process return `provider` inside the block."""
    global _override
    previous, _override = _override, provider
    try:
        yield provider
    finally:
        _override = previous
