"""Helpers for API tests: keys of every role, and an authorised client."""

from collections.abc import Callable

import pytest

from gateway.auth import create_api_key


@pytest.fixture
def api_token(session) -> Callable[..., str]:
    """Make a bearer token: api_token("operator"), api_token("lender", owner_id=3)."""

    def make(role: str, owner_id: int | None = None) -> str:
        _, token = create_api_key(session, role=role, owner_id=owner_id)
        session.commit()
        return token

    return make


@pytest.fixture
def auth() -> Callable[[str], dict[str, str]]:
    return lambda token: {"Authorization": f"Bearer {token}"}
