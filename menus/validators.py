"""Parsers for what people type; each returns a clean value or raises Invalid with a reason."""

from __future__ import annotations

import re
from collections.abc import Callable

from core.gsm7 import to_gsm7
from core.money import MoneyError, parse_amount
from menus.nodes import Ctx, Invalid, is_digits
from menus.texts import N_

NAME_RULE = N_("Please enter your name in letters.")
ID_RULE = N_("Enter your ID number in digits only.")
PIN_RULE = N_("Choose 4 digits, not all the same and not in a row.")
PIN_MISMATCH = N_("The PINs do not match. Enter it again.")
AMOUNT_RULE = N_("Enter an amount in numbers, like 1000.")
AMOUNT_RANGE = N_("Enter an amount from {low} to {high}.")
TEXT_RULE = N_("Please write a few words (up to 160 letters).")

_NAME = re.compile(r"^[A-Za-z][A-Za-z' .-]{1,59}$")
_WEAK_PINS = frozenset(
    {d * 4 for d in "0123456789"} | {"0123", "1234", "2345", "3456", "4567", "5678", "6789",
                                      "9876", "8765", "7654", "6543", "5432", "4321", "3210"}
)


def full_name(_ctx: Ctx, answer: str) -> str:
    """A person's name: letters, spaces, apostrophes, dots and hyphens."""
    name = " ".join(to_gsm7(answer).split())
    if not _NAME.match(name) or sum(ch.isalpha() for ch in name) < 2:
        raise Invalid(NAME_RULE)
    return name


def national_id(_ctx: Ctx, answer: str) -> str:
    """A national ID number: 5 to 10 digits."""
    digits = answer.strip().replace(" ", "")
    if not (is_digits(digits) and 5 <= len(digits) <= 10):
        raise Invalid(ID_RULE)
    return digits


def new_pin(_ctx: Ctx, answer: str) -> str:
    """A new 4-digit PIN that is not trivially guessed."""
    if not (len(answer) == 4 and is_digits(answer)) or answer in _WEAK_PINS:
        raise Invalid(PIN_RULE)
    return answer


def same_as(field: str) -> Callable[[Ctx, str], str]:
    """A confirmation that must repeat what was typed into `field`."""

    def confirm(ctx: Ctx, answer: str) -> str:
        if answer != ctx.data.get(field):
            raise Invalid(PIN_MISMATCH)
        return answer

    return confirm


def amount_between(bounds: Callable[[Ctx], tuple[int, int]]) -> Callable[[Ctx, str], int]:
    """An amount in minor units within bounds computed for this member."""

    def parse(ctx: Ctx, answer: str) -> int:
        try:
            minor = parse_amount(answer, ctx.currency)
        except MoneyError as exc:
            raise Invalid(AMOUNT_RULE) from exc
        low, high = bounds(ctx)
        if not low <= minor <= high:
            raise Invalid(AMOUNT_RANGE, low=ctx.money(low), high=ctx.money(high))
        return minor

    return parse


def short_text(_ctx: Ctx, answer: str) -> str:
    """A short free-text message (complaints): 3 to 160 GSM-7 characters."""
    text = " ".join(to_gsm7(answer).split())
    if not 3 <= len(text) <= 160:
        raise Invalid(TEXT_RULE)
    return text
