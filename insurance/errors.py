"""The insurance domain's one exception family, with stable machine-readable codes."""

from __future__ import annotations


class InsuranceError(Exception):
    """An insurance rule said no; `code` is stable (edges map it), `message` is for people."""

    def __init__(self, code: str, message: str = "", *, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message or code.replace("_", " ")
        self.field = field
