"""The impact fixtures (tests/support/impact.py)."""

from support.impact import *  # noqa: F403
