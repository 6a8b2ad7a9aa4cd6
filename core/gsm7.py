"""The GSM 03.38 7-bit default alphabet: what a feature phone shows, and what it costs.

USSD screens are limited to 182 GSM-7 characters; SMS segments to 160 (153 when
concatenated). Characters of the extension table (`{ } [ ] ~ \\ | ^ €` and form
feed) take two septets. Anything outside the alphabet is transliterated.
"""

from __future__ import annotations

import unicodedata

BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = "^{}\\[~]|€\f"
_BASIC_SET = frozenset(BASIC) - {"\x1b"}
_EXTENSION_SET = frozenset(EXTENSION)
_GSM7_SET = _BASIC_SET | _EXTENSION_SET

_REPLACEMENTS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": "...",
    "\u00a0": " ", "\t": " ", "`": "'", "\u00b4": "'",
    "\u00e7": "Ç", "\u00c0": "A", "\u00c8": "E", "\u00cc": "I", "\u00d2": "O", "\u00d9": "U",
}

SMS_SINGLE, SMS_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67
USSD_MAX = 182


def is_gsm7(text: str) -> bool:
    return all(ch in _BASIC_SET or ch in _EXTENSION_SET for ch in text)


def septets(text: str) -> int:
    """How many septets the text takes; extension characters count twice."""
    return sum(2 if ch in _EXTENSION_SET else 1 for ch in text)


def _transliterate_char(ch: str) -> str:
    if ch in _BASIC_SET or ch in _EXTENSION_SET:
        return ch
    if ch in _REPLACEMENTS:
        return _REPLACEMENTS[ch]
    decomposed = unicodedata.normalize("NFKD", ch)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    if stripped and all(c in _BASIC_SET for c in stripped):
        return stripped
    return "?" if unicodedata.category(ch)[0] not in "CZ" else " "


def to_gsm7(text: str) -> str:
    """Transliterate to the GSM-7 alphabet: accents dropped, smart quotes made plain."""
    if _GSM7_SET.issuperset(text):  # nearly every screen: one set test instead of a loop
        return text
    return "".join(_transliterate_char(ch) for ch in text)


def truncate_septets(text: str, limit: int) -> str:
    """The longest prefix that fits in `limit` septets."""
    used, out = 0, []
    for ch in text:
        cost = 2 if ch in _EXTENSION_SET else 1
        if used + cost > limit:
            break
        used += cost
        out.append(ch)
    return "".join(out)


def sms_segments(text: str) -> int:
    """How many SMS segments a message takes (GSM-7 when it can, UCS-2 otherwise)."""
    if is_gsm7(text):
        length, single, multi = septets(text), SMS_SINGLE, SMS_MULTI
    else:
        length = len(text.encode("utf-16-be")) // 2
        single, multi = UCS2_SINGLE, UCS2_MULTI
    if length <= single:
        return 1
    return -(-length // multi)
