"""JSON logging with phone numbers and callback tokens masked; configured once, before the app."""

from __future__ import annotations

import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

from core.phones import mask_phones_in

_configured = False

# The M-Pesa callback URL's secret segment, right or wrong (a near miss is a secret too),
# percent-encoded or not: /mpesa/<token>/… and %2Fmpesa%2F<token>%2F…
_CALLBACK_TOKEN = re.compile(r"((?:/|%2[fF])mpesa(?:/|%2[fF]))[^/\s\"'?#%]+", re.ASCII)
MASKED_TOKEN = "***"


# A secret in a query string: Africa's Talking callbacks may carry `?token=…`.
_QUERY_SECRET = re.compile(r"([?&](?:token|secret|key)=)[^&\s\"']+", re.ASCII | re.IGNORECASE)


def mask_callback_tokens_in(text: str) -> str:
    """Replace the secret path segment of every M-Pesa callback URL, and query secrets."""
    text = _CALLBACK_TOKEN.sub(lambda m: m.group(1) + MASKED_TOKEN, text)
    return _QUERY_SECRET.sub(lambda m: m.group(1) + MASKED_TOKEN, text)


def mask_secrets_in(text: str) -> str:
    """What every log line goes through: callback tokens and phone numbers masked."""
    return mask_phones_in(mask_callback_tokens_in(text))


class MaskingJsonFormatter(JsonFormatter):
    """JSON lines with phones and tokens masked everywhere: message, extras and tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets_in(super().format(record))


def json_formatter() -> MaskingJsonFormatter:
    """The formatter of every log line this project writes."""
    return MaskingJsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={
        "asctime": "time", "levelname": "level", "name": "logger"})


def configure_logging(level: str = "INFO") -> None:
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    _configured = True
