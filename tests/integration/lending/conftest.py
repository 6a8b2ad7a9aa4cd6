"""The lending fixtures (tests/support/lending.py)."""

from support.lending import *  # noqa: F403
