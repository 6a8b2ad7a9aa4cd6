"""The loan state machine: every legal move, illegal ones refused, every move recorded."""

import pytest

from lending.errors import LendingError
from lending.lifecycle import TRANSITIONS, can_move, history, transition
from lending.models import LOAN_STATUSES

LEGAL = [
    ("pending_review", "approved"), ("pending_review", "rejected"),
    ("pending_review", "cancelled"), ("approved", "fundraising"), ("approved", "cancelled"),
    ("fundraising", "funded"), ("fundraising", "expired"), ("fundraising", "cancelled"),
    ("funded", "disbursing"), ("disbursing", "active"), ("disbursing", "funded"),
    ("active", "repaid"), ("active", "defaulted"), ("active", "written_off"),
    ("defaulted", "active"), ("defaulted", "written_off"), ("defaulted", "repaid"),
    ("written_off", "recovered"),
]


def test_the_table_holds_exactly_the_legal_moves() -> None:
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == set(LEGAL)
    assert all(status in LOAN_STATUSES for pair in table for status in pair)


@pytest.mark.parametrize(("from_status", "to_status"), LEGAL)
def test_every_legal_move_is_made_and_recorded(lending, from_status, to_status) -> None:
    loan = lending.application()
    loan.status = from_status
    transition(lending.session, loan, to_status, actor="tester", reason="table")
    lending.session.flush()
    assert loan.status == to_status
    last = history(lending.session, loan.id)[-1]
    assert (last.from_status, last.to_status, last.actor, last.reason) == (
        from_status, to_status, "tester", "table")
    assert last.at is not None
    closes = to_status in {"rejected", "cancelled", "expired", "repaid", "written_off"}
    assert (loan.closed_at is not None) == closes


ILLEGAL = [
    ("pending_review", "fundraising"), ("pending_review", "active"), ("approved", "funded"),
    ("fundraising", "active"), ("funded", "active"), ("funded", "cancelled"),
    ("active", "funded"), ("repaid", "active"), ("rejected", "approved"),
    ("expired", "fundraising"), ("written_off", "active"), ("recovered", "written_off"),
    ("cancelled", "pending_review"), ("disbursing", "repaid"),
]


@pytest.mark.parametrize(("from_status", "to_status"), ILLEGAL)
def test_illegal_moves_are_refused_and_leave_no_trace(lending, from_status, to_status) -> None:
    loan = lending.application()
    loan.status = from_status
    before = len(history(lending.session, loan.id))
    with pytest.raises(LendingError) as excinfo:
        transition(lending.session, loan, to_status, actor="tester")
    assert excinfo.value.code == "illegal_transition"
    assert loan.status == from_status
    assert not can_move(from_status, to_status)
    assert len(history(lending.session, loan.id)) == before
