"""The payments fixtures (tests/support/payments.py)."""

from support.payments import *  # noqa: F403
