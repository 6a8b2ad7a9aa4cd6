"""The ops fixtures (tests/support/ops.py)."""

from support.ops import *  # noqa: F403
