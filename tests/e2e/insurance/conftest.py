"""The insurance fixtures (tests/support/insurance.py)."""

from support.insurance import *  # noqa: F403
