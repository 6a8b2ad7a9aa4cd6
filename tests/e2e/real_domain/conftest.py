"""The real_domain fixtures (tests/support/real_domain.py)."""

from support.real_domain import *  # noqa: F403
