"""Telling a provider error that is safe to repeat from one whose outcome is unknown."""

from __future__ import annotations

import httpx

from core.outbox import TransientError


class NotSent(TransientError):
    """The request surely never reached the provider: sending it again is safe."""


_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def surely_not_sent(exc: BaseException) -> bool:
    """True when no byte of a money-moving request can have reached the provider.

    Anything else (a read timeout, a 5xx) may have been acted on: repeating a
    payout then risks paying twice, so the caller settles it by status query.
    """
    if isinstance(exc, NotSent):
        return True
    cause = exc.__cause__
    if isinstance(cause, _NEVER_SENT):
        return True
    # DarajaProvider fails to get its OAuth token before sending the request itself.
    return str(exc).startswith("OAuth token:")
