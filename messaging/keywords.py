"""Read what people text us: a few keywords in English and Swahili, forgivingly."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.money import MoneyError, parse_amount

BALANCE, REPAY, STOP, START, HELP, UNKNOWN = (
    "balance", "repay", "stop", "start", "help", "unknown",
)
SAVINGS, CHAMA = "savings", "chama"
"""Answered by the savings package (`savings.sms` registers its handlers)."""

KEYWORDS: dict[str, tuple[str, str]] = {
    "BAL": (BALANCE, "en"), "BALANCE": (BALANCE, "en"), "SALIO": (BALANCE, "sw"),
    "REPAY": (REPAY, "en"), "PAY": (REPAY, "en"), "LIPA": (REPAY, "sw"),
    "STOP": (STOP, "en"), "UNSUBSCRIBE": (STOP, "en"), "ACHA": (STOP, "sw"),
    "START": (START, "en"), "ANZA": (START, "sw"),
    "HELP": (HELP, "en"), "MSAADA": (HELP, "sw"), "SAIDIA": (HELP, "sw"),
    "SAVE": (SAVINGS, "en"), "SAVINGS": (SAVINGS, "en"), "AKIBA": (SAVINGS, "sw"),
    "CHAMA": (CHAMA, "sw"),
}
"""Keyword -> (command, the language it was asked in)."""

_NOISE = re.compile(r"[^A-Z0-9.,]+")
_SHAPE = re.compile(r"^([A-Z]+)\s*(.*)$")
_CURRENCY = re.compile(r"^(?:KES|KSH|KSHS|SH|SHS)\s*")


@dataclass(frozen=True)
class Command:
    kind: str
    language: str | None = None
    amount_minor: int | None = None


def parse_command(text: str) -> Command:
    """The command in an SMS body; anything unrecognised is UNKNOWN, never an error."""
    cleaned = _NOISE.sub(" ", text.upper()).strip(" .,")
    match = _SHAPE.match(cleaned)
    if match is None or match.group(1) not in KEYWORDS:
        return Command(UNKNOWN)
    kind, language = KEYWORDS[match.group(1)]
    if kind == REPAY:
        return Command(REPAY, language, _amount(match.group(2).strip(" .,")))
    return Command(kind, language)  # "STOP ALL", "BAL PLS": the keyword is what counts


def _amount(text: str) -> int | None:
    """Minor units of what followed REPAY/LIPA, or None when it is not a usable amount."""
    text = _CURRENCY.sub("", text).replace(" ", "").rstrip(".,")
    if not text:
        return None
    try:
        minor = parse_amount(text)
    except MoneyError:
        return None
    return minor if minor > 0 else None
