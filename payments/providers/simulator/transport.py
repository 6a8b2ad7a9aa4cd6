"""How the simulator POSTs its callbacks to Mkopo's real `/mpesa/<token>/…` URLs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from core.settings import Settings

_transport: httpx.BaseTransport | None = None


@contextmanager
def using_transport(transport: httpx.BaseTransport | None) -> Iterator[None]:
    """Post callbacks through `transport` (tests: `httpx.WSGITransport(app=app)`)."""
    global _transport
    previous, _transport = _transport, transport
    try:
        yield
    finally:
        _transport = previous


class CallbackRefused(Exception):
    """Mkopo did not acknowledge a callback; rq retries the delivery job."""


def post_callback(settings: Settings, path: str, payload: dict[str, Any],
                  timeout: float = 10.0) -> Any:
    url = f"{settings.public_base_url.rstrip('/')}/mpesa/{settings.callback_token}/{path}"
    with httpx.Client(transport=_transport, timeout=timeout) as client:
        response = client.post(url, json=payload)
    if response.status_code != 200:
        raise CallbackRefused(f"{path}: HTTP {response.status_code}")
    return response.json()
