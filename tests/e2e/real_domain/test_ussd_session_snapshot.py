"""What a session reads once as it opens (the member, the account she pays into) and what it
still reads fresh: the PIN and its lock, balances. Real domain behind the real /ussd."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select

from lending import members
from lending.applications import cancel_loan
from lending.models import Loan, Member

PIN = "1357"


def register(ussd) -> None:
    ussd.dial("1", "Amina Njeri", "12345678", PIN, PIN, "1", "1")


def borrower_with_a_loan(ussd, session, verify) -> Loan:
    """A verified member with a loan in review (an open loan: the account she pays into)."""
    register(ussd)
    verify(session.scalar(select(Member.id)))
    ussd.dial("2", "1", "1500", "1", "1", "1", PIN)
    ussd.expect("Loan reference MK", end=True)
    return session.scalars(select(Loan)).one()


@contextmanager
def statements(db_connection) -> Iterator[list[str]]:
    """The SQL statements sent while the block runs (the app's sessions use this connection)."""
    sent: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    event.listen(db_connection, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(db_connection, "before_cursor_execute", seen)


def test_help_shows_the_account_read_at_the_dial_without_a_query(
        ussd, session, product, verify, db_connection) -> None:
    loan = borrower_with_a_loan(ussd, session, verify)
    ussd.dial()
    with statements(db_connection) as sent:
        ussd.reply("6")
        ussd.expect(f"account {loan.reference}", end=False)
        ussd.reply("0")
        ussd.expect("welcome to Mkopo", end=False)
    assert sent == []


def test_the_next_dial_reads_the_account_again(ussd, session, product, verify) -> None:
    loan = borrower_with_a_loan(ussd, session, verify)
    cancel_loan(session, loan.id, actor="officer-7", reason="withdrawn by the borrower")
    session.commit()
    ussd.dial("6")
    ussd.expect(f"account {ussd.phone}", end=False)
    assert loan.reference not in ussd.screen


def test_a_pin_locked_after_the_dial_refuses_the_right_pin(ussd, session, product,
                                                           verify) -> None:
    register(ussd)
    member_id = session.scalar(select(Member.id))
    verify(member_id)
    ussd.dial("1")
    ussd.expect("Enter your PIN", end=False)  # as the session opened, the PIN was not locked
    for _ in range(3):  # meanwhile, another session guesses wrong three times
        members.check_pin(session, member_id, "0000")
    session.commit()
    ussd.reply(PIN)
    ussd.expect("Your PIN is locked until", end=True)
    assert "Credit limit" not in ussd.screen


def test_a_suspended_member_is_refused_at_the_next_dial(ussd, session, product, verify) -> None:
    register(ussd)
    member = session.scalar(select(Member))
    verify(member.id)
    ussd.dial()
    ussd.expect("welcome to Mkopo", end=False)
    member.status = "suspended"
    session.commit()
    ussd.dial()
    ussd.expect("Your account is not active", end=True)


def test_a_language_changed_in_a_session_is_the_next_sessions_with_the_same_account(
        ussd, session, product, verify) -> None:
    loan = borrower_with_a_loan(ussd, session, verify)
    ussd.dial("5", PIN, "2", "2")
    ussd.expect(end=True)
    ussd.dial("6")
    ussd.expect("Lipa kwa M-Pesa", loan.reference, end=False)
