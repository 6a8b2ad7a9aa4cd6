"""A request's transaction that only read ends with COMMIT (the driver keeps its prepared
statements); one that wrote, or holds unflushed changes, still rolls back. And the
driver-level reads (`core.db.DriverRead`) see what the session has not flushed yet."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.db import DriverRead, ends_as_read
from lending.models import Member


@pytest.fixture
def fresh(committed_db: Any) -> Iterator[Session]:
    """A session on the real engine (no shared test connection), as a request has."""
    session = committed_db.session()
    try:
        yield session
    finally:
        session.close()


def test_a_transaction_that_only_selected_ends_as_read(fresh: Session) -> None:
    assert not ends_as_read(fresh)  # no transaction yet
    fresh.execute(select(Member.id).limit(1)).all()
    assert ends_as_read(fresh)
    fresh.commit()
    assert not ends_as_read(fresh)


def test_a_statement_other_than_a_select_makes_it_a_writing_transaction(fresh: Session) -> None:
    fresh.execute(select(Member.id).limit(1)).all()
    fresh.execute(update(Member).where(Member.id == -1).values(first_name="x"))
    assert not ends_as_read(fresh)
    fresh.rollback()
    fresh.execute(text("SELECT 1")).all()
    assert ends_as_read(fresh)  # a new transaction starts clean


def test_unflushed_changes_keep_it_a_writing_transaction(fresh: Session, lending_member: Any
                                                         ) -> None:
    member = fresh.get(Member, lending_member)
    assert member is not None and ends_as_read(fresh)
    member.first_name = "Changed"
    assert not ends_as_read(fresh)


@pytest.fixture
def lending_member(committed_db: Any) -> int:
    from lending.members import register_member

    with committed_db.transaction() as s:
        return register_member(s, phone="+254711000555", first_name="Achieng",
                               national_id="55500055", pin="4821", language="en",
                               consent=True).id


NAME_OF = DriverRead(select(Member.first_name, Member.pin_locked_until)
                     .where(Member.id == bindparam("member_id")))


def test_a_driver_read_sees_what_the_session_has_not_flushed(fresh: Session,
                                                             lending_member: int) -> None:
    member = fresh.get(Member, lending_member)
    assert member is not None
    member.first_name = "Akinyi"  # pending, not flushed
    row = NAME_OF.first(fresh, member_id=lending_member)
    assert row is not None and (row.first_name, row.pin_locked_until) == ("Akinyi", None)
    assert NAME_OF.first(fresh, member_id=-1) is None
    fresh.rollback()


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(fresh: Session) -> None:
    broken = DriverRead(select(Member.id).where(Member.id == bindparam("member_id"))
                        .where(text("no_such_column = 1")))
    with pytest.raises(DBAPIError):
        broken.all(fresh, member_id=1)
    assert not ends_as_read(fresh)  # a failed transaction rolls back
    fresh.rollback()


def test_a_failed_statement_makes_the_transaction_roll_back(fresh: Session) -> None:
    fresh.execute(select(Member.id).limit(1)).all()
    with pytest.raises(DBAPIError):
        fresh.execute(text("SELECT no_such_column FROM members"))
    assert not ends_as_read(fresh)
    fresh.rollback()
