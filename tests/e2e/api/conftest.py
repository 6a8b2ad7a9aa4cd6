"""The api fixtures (tests/support/api.py)."""

from support.api import *  # noqa: F403
