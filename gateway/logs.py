"""JSON logging with phone numbers masked; configured once, before the app."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from core.phones import mask_phones_in

_configured = False


class MaskPhones(logging.Filter):
    """Mask anything that looks like a phone number in the rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: str = "INFO") -> None:
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={
            "asctime": "time", "levelname": "level", "name": "logger"})
    )
    handler.addFilter(MaskPhones())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    _configured = True
