"""Who may call the provider endpoints (USSD, SMS, M-Pesa): address allowlists, shared secrets.

`/metrics` uses the same two checks for its scraper.

Addresses are the real client's: behind `TRUSTED_PROXY_HOPS` proxies, werkzeug's
ProxyFix has already put the forwarded address in `request.remote_addr`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterable

from flask import abort, request

from gateway.database import get_runtime

logger = logging.getLogger(__name__)

AT_TOKEN_PARAMETER = "token"
"""Query parameter of the Africa's Talking callback URLs carrying AT_CALLBACK_TOKEN."""


def address_allowed(address: str | None, allowlist: Iterable[str]) -> bool:
    """Whether `address` is in one of the networks (or is one of the addresses) listed."""
    entries = list(allowlist)
    if not entries:
        return True
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(entry, strict=False) for entry in entries)


def secret_matches(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest((given or "").encode(), expected.encode())


def require_africas_talking() -> None:
    """Refuse (403) a USSD/SMS callback without the shared secret or from elsewhere, when set."""
    settings = get_runtime().settings
    if settings.at_callback_token and not secret_matches(
            request.args.get(AT_TOKEN_PARAMETER), settings.at_callback_token):
        logger.warning("africa's talking callback on %s without the right token", request.path)
        abort(403)
    if not address_allowed(request.remote_addr, settings.at_ip_allowlist):
        logger.warning("africa's talking callback on %s from a non-allowlisted address",
                       request.path)
        abort(403)
