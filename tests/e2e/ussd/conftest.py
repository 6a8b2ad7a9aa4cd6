"""The ussd fixtures (tests/support/ussd.py)."""

from support.ussd import *  # noqa: F403
