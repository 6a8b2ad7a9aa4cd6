"""Console fixtures: operators of each role, and a client that signs in as one."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from gateway.operators import create_operator
from gateway.ops_models import Operator

from support.ops_world import PASSWORD

_n = itertools.count(1)


@pytest.fixture
def operator(session) -> Callable[..., Operator]:
    """Make an operator: operator("approver"), operator("approver", field_partner_id=3)."""

    def make(role: str, field_partner_id: int | None = None) -> Operator:
        made = create_operator(session, email=f"{role}{next(_n)}@mkopo.test", password=PASSWORD,
                               role=role, field_partner_id=field_partner_id)
        session.commit()
        return made

    return make


@pytest.fixture
def signed_in(app, operator) -> Callable[..., Any]:
    """A test client signed in as a new operator of `role`."""

    def make(role: str, field_partner_id: int | None = None) -> Any:
        who = operator(role, field_partner_id)
        client = app.test_client()
        response = client.post("/ops/login", data={"email": who.email, "password": PASSWORD})
        assert response.status_code == 302, response.text
        client.operator = who
        return client

    return make


@pytest.fixture
def apps(session, clock) -> Any:
    from support.ops_world import Applications

    return Applications(session)
