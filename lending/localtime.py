"""Local calendar dates in the platform's timezone (settings.timezone): due dates are local."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from core import runtime
from core.clock import local_today


def timezone_name() -> str:
    return runtime.current().settings.timezone


def today() -> date:
    """Today's date where the borrowers live."""
    return local_today(timezone_name())


def local_date(instant: datetime) -> date:
    """The local calendar date of an aware instant."""
    return instant.astimezone(ZoneInfo(timezone_name())).date()
