"""The savings fixtures (tests/support/savings.py)."""

from support.savings import *  # noqa: F403
