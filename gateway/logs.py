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


# rq says the same few lines for every job it runs and every tick of its schedulers: with a
# sweep every 15 seconds that is ~30 lines a minute of an idle system. They are DEBUG here;
# what a job does is logged by the job, and a failing job is still a WARNING/ERROR from rq.
ROUTINE_RQ_LINES = {
    "rq.worker": (
        "Worker %s: %s: %s",  # a job starts; "Job OK"
        "Successfully completed %s job in %ss on worker %s",
        "Successfully completed job %s in %ss on worker %s",
        "Worker %s: job %s result is kept for %s seconds",
        "Worker %s: job %s result discarded immediately",
        "Worker %s: cleaning registries for queue: %s",
    ),
    "rq.cron": ("Enqueued job ",),  # an f-string: the start is the template
    "rq.scheduler": ("Acquired scheduler lock for %s",),
}
QUIET_LOGGERS = {"alembic.runtime.plugins": logging.WARNING}
"""Loggers that only describe their own machinery at INFO."""


class RoutineAtDebug(logging.Filter):
    """Lowers a logger's routine INFO lines to DEBUG, kept only when DEBUG is wanted."""

    def __init__(self, logger_name: str, templates: tuple[str, ...]) -> None:
        super().__init__()
        self.logger_name, self.templates = logger_name, templates

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self.is_routine(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(self.logger_name).isEnabledFor(logging.DEBUG)

    def is_routine(self, record: logging.LogRecord) -> bool:
        return str(record.msg).startswith(self.templates)


def quiet_routine_logs() -> None:
    """Keep the logs of an idle system quiet (idempotent)."""
    for name, templates in ROUTINE_RQ_LINES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, RoutineAtDebug) for f in logger.filters):
            logger.addFilter(RoutineAtDebug(name, templates))
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def configure_logging(level: str = "INFO") -> None:
    global _configured
    quiet_routine_logs()
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    _configured = True
