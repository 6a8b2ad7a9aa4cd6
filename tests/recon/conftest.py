"""Fixtures for reconciliation tests (helpers live in recon_world.py)."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from recon_world import Loans, World
from sqlalchemy.orm import Session


@pytest.fixture
def world(session: Session) -> World:
    return World(session)


@pytest.fixture
def loans(session: Session, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Loans:
    from lending import members

    # PIN hashing is slow by design; these tests only need borrowers to exist.
    monkeypatch.setattr(members, "PIN_HASHER",
                        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    return Loans(session)
