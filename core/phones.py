"""Phone numbers: E.164 normalisation and masking for logs and screens."""

from __future__ import annotations

import functools
import re

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """Not a phone number we can reach."""


@functools.lru_cache(maxsize=4096)
def normalize_phone(raw: str, region: str = "KE") -> str:
    """Return the E.164 form (`+254712345678`) of a number typed in any usual way.

    Remembered: every step of a USSD session sends the same number, and parsing it costs
    more than the rest of the step's form (a refusal raises, so it is never remembered)."""
    try:
        parsed = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber("not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def msisdn(e164: str) -> str:
    """The digits-only form that M-Pesa wants (`254712345678`)."""
    return e164.lstrip("+")


def mask_phone(number: str) -> str:
    """Keep the country code and last three digits: `+254*****678`."""
    digits = re.sub(r"\D", "", number or "")
    if len(digits) < 7:
        return "***"
    return f"+{digits[:3]}{'*' * (len(digits) - 6)}{digits[-3:]}"


_PHONE_IN_TEXT = re.compile(r"\+?\d{9,15}")


def mask_phones_in(text: str) -> str:
    """Mask anything that looks like a phone number inside free text (log lines)."""
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)
