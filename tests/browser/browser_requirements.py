"""Whether the browser tests can run here: Debian's Chromium, required in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM_MISSING = "Debian's chromium is needed for browser tests: apt-get install chromium"


def require_chromium(chromium: str, *, in_ci: bool) -> None:
    """Skip (printing why) when Chromium is absent; in CI a missing browser is a failure."""
    if Path(chromium).exists():
        return
    if in_ci:
        pytest.fail(f"{CHROMIUM_MISSING} (CI=true: browser tests may not be skipped)")
    print(f"\nskipping browser test: {CHROMIUM_MISSING}")
    pytest.skip(CHROMIUM_MISSING)


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
