"""Helpers for API tests: keys of every role, and an authorised client."""

import itertools
from collections.abc import Callable

import pytest

from gateway.api_keys import create_api_key
from gateway.operators import create_operator
from gateway.ops_models import Operator

_operators = itertools.count(1)


def new_operator(session, role: str) -> Operator:
    """A person an operator key can act for."""
    return create_operator(session, email=f"api-{role}-{next(_operators)}@mkopo.test",
                           password="correct horse battery", role=role)


@pytest.fixture
def api_token(session) -> Callable[..., str]:
    """Make a bearer token: api_token("operator"), api_token("lender", owner_id=3)."""

    def make(role: str, owner_id: int | None = None) -> str:
        if role == "operator" and owner_id is None:
            owner_id = new_operator(session, "admin").id
        _, token = create_api_key(session, role=role, owner_id=owner_id)
        session.commit()
        return token

    return make


@pytest.fixture
def auth() -> Callable[[str], dict[str, str]]:
    return lambda token: {"Authorization": f"Bearer {token}"}
