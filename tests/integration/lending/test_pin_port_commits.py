"""The menus' PIN check commits only what it wrote: a right PIN with nothing to reset writes
nothing, so the screen after it reads in the same transaction (one round trip to COMMIT fewer)."""

from lending.models import Member
from menus.adapters import DomainBorrowerServices


class Commits:
    """Counts the commits a port makes (a commit in these tests only releases a savepoint)."""

    def __init__(self, session, monkeypatch) -> None:
        self.count = 0
        real = session.commit

        def counted() -> None:
            self.count += 1
            real()

        monkeypatch.setattr(session, "commit", counted)


def test_a_right_pin_with_nothing_to_reset_commits_nothing(session, lending,
                                                           monkeypatch) -> None:
    member = lending.member()
    port = DomainBorrowerServices(session)
    commits = Commits(session, monkeypatch)
    assert port.verify_pin(member.id, "4821").ok
    assert commits.count == 0
    assert port.balance(member.id).credit_limit == member.credit_limit  # same transaction


def test_a_wrong_pin_and_the_right_one_after_it_each_commit(session, lending,
                                                            monkeypatch) -> None:
    member = lending.member()
    port = DomainBorrowerServices(session)
    commits = Commits(session, monkeypatch)
    wrong = port.verify_pin(member.id, "0000")
    assert (wrong.ok, wrong.tries_left, commits.count) == (False, 2, 1)
    assert port.verify_pin(member.id, "4821").ok  # resets the count: a change to commit
    assert commits.count == 2
    session.expire_all()
    assert session.get(Member, member.id).failed_pin_attempts == 0
