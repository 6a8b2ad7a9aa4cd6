"""JSON logging with phone numbers masked; configured once, before the app."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from core.phones import mask_phones_in

_configured = False


class MaskingJsonFormatter(JsonFormatter):
    """JSON lines with phone numbers masked everywhere: message, extras and tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_phones_in(super().format(record))


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
