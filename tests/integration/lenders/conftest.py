"""The lenders fixtures (tests/support/lenders.py)."""

from support.lenders import *  # noqa: F403
