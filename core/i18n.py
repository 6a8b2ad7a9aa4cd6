"""Translations from gettext `.po` catalogs, read with babel; no compile step needed.

Each package keeps its own catalogs (`<package>/locales/<lang>.po`); English
message ids are the source text, so a missing translation falls back to English.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = {"en": "English", "sw": "Kiswahili"}
DEFAULT_LANGUAGE = "en"


@cache
def _catalog(directory: str, language: str) -> dict[str, str]:
    path = Path(directory) / f"{language}.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }


class Translator:
    """Translate English source strings of one package into a member's language."""

    def __init__(self, directory: Path) -> None:
        self.directory = str(directory)

    def gettext(self, language: str, message: str, **params: object) -> str:
        text = _catalog(self.directory, language).get(message, message)
        return text.format(**params) if params else text

    def missing(self, language: str, messages: list[str]) -> list[str]:
        """Source strings with no translation in `language` (for completeness tests)."""
        known = _catalog(self.directory, language)
        return [m for m in messages if m not in known]
