"""The one error family of the savings domain, with codes the edges map to answers."""

from __future__ import annotations


class SavingsError(ValueError):
    """A savings request we refuse; `code` is stable, `field` names the offending input."""

    def __init__(self, code: str, message: str = "", field: str | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code, self.message, self.field = code, message or code, field
