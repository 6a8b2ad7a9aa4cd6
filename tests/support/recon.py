"""Fixtures for reconciliation tests (helpers live in recon_world.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from support.recon_world import Loans, World


@pytest.fixture
def world(session: Session) -> World:
    return World(session)


@pytest.fixture
def loans(session: Session, clock: Any) -> Loans:
    return Loans(session)
