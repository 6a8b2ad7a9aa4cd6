"""The sms fixtures (tests/support/sms.py)."""

from support.sms import *  # noqa: F403
