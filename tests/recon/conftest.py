"""Fixtures for reconciliation tests (helpers live in recon_world.py)."""

from __future__ import annotations

import pytest
from recon_world import World
from sqlalchemy.orm import Session


@pytest.fixture
def world(session: Session) -> World:
    return World(session)
