"""The recon fixtures (tests/support/recon.py)."""

from support.recon import *  # noqa: F403
