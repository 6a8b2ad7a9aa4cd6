"""The double-entry ledger: balanced, idempotent, append-only, never overdrawn."""

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

import ledger
from ledger import (
    MOBILE_MONEY_FLOAT,
    SUSPENSE,
    IdempotencyConflict,
    InsufficientFunds,
    Unbalanced,
    credit,
    debit,
    lender_wallet,
)


def deposit(session, member_id: int, amount: int, key: str):
    return ledger.post(session, key, "deposit", [
        debit(MOBILE_MONEY_FLOAT, amount), credit(lender_wallet(member_id), amount)])


def test_a_deposit_moves_float_and_wallet_and_balances(session) -> None:
    deposit(session, 1, 50_000, "dep-1")
    assert ledger.balance(session, MOBILE_MONEY_FLOAT) == 50_000
    assert ledger.balance(session, lender_wallet(1)) == 50_000
    tb = ledger.trial_balance(session)
    assert tb.totals() == {"KES": 0}
    assert {line.code: line.normal_balance for line in tb.lines} == {
        "asset:mpesa:float": 50_000, "liability:member:1:wallet": 50_000}


def test_unbalanced_entries_are_refused(session) -> None:
    with pytest.raises(Unbalanced):
        ledger.post(session, "bad", "x", [debit(MOBILE_MONEY_FLOAT, 100), credit(SUSPENSE, 99)])


def test_the_same_key_twice_posts_once(session) -> None:
    first = deposit(session, 1, 10_000, "dep-dup")
    again = deposit(session, 1, 10_000, "dep-dup")
    assert again.id == first.id
    assert ledger.balance(session, lender_wallet(1)) == 10_000


def test_the_same_key_with_another_amount_is_a_conflict(session) -> None:
    deposit(session, 1, 10_000, "dep-x")
    with pytest.raises(IdempotencyConflict):
        deposit(session, 1, 10_001, "dep-x")
    assert ledger.balance(session, lender_wallet(1)) == 10_000


def test_a_wallet_cannot_be_overdrawn(session) -> None:
    deposit(session, 1, 5_000, "dep-small")
    with pytest.raises(InsufficientFunds) as excinfo:
        with session.begin_nested():
            ledger.post(session, "withdraw-big", "withdrawal", [
                debit(lender_wallet(1), 5_001), credit(MOBILE_MONEY_FLOAT, 5_001)])
    assert excinfo.value.account_code == "liability:member:1:wallet"
    assert ledger.balance(session, lender_wallet(1)) == 5_000


def test_a_post_after_a_refused_one_in_the_same_session_is_recorded(session) -> None:
    deposit(session, 6, 1_000, "dep-before-refusal")
    with pytest.raises(InsufficientFunds), session.begin_nested():
        ledger.post(session, "too-much", "withdrawal", [
            debit(lender_wallet(6), 1_001), credit(MOBILE_MONEY_FLOAT, 1_001)])
    # SQLite hands the refused entry's id out again; it must not be mistaken for it
    after = deposit(session, 6, 500, "dep-after-refusal")
    assert session.get(ledger.JournalEntry, after.id).key == "dep-after-refusal"
    assert {p.account.code: p.amount for p in after.postings} == {
        MOBILE_MONEY_FLOAT.code: 500, lender_wallet(6).code: -500}
    assert ledger.balance(session, lender_wallet(6)) == 1_500
    assert ledger.verify(session).ok


def test_reversal_restores_balances_and_happens_once(session) -> None:
    entry = deposit(session, 2, 7_500, "dep-rev")
    reversal = ledger.reverse(session, entry)
    assert ledger.reverse(session, entry).id == reversal.id
    assert ledger.balance(session, lender_wallet(2)) == 0
    assert ledger.balance(session, MOBILE_MONEY_FLOAT) == 0
    assert reversal.reverses_id == entry.id
    assert ledger.verify(session).ok


def test_verify_catches_a_tampered_running_balance(session) -> None:
    deposit(session, 3, 1_000, "dep-tamper")
    session.execute(text("UPDATE ledger_accounts SET balance = balance + 1 "
                         "WHERE code = 'liability:member:3:wallet'"))
    result = ledger.verify(session)
    assert result.stale_balances == ["liability:member:3:wallet"]
    assert not result.ok


def test_only_accounts_that_cannot_be_overdrawn_keep_a_running_balance(session) -> None:
    deposit(session, 5, 2_500, "dep-running-1")
    deposit(session, 5, 500, "dep-running-2")
    stored = dict(session.execute(text(
        "SELECT code, balance FROM ledger_accounts WHERE code IN "
        "('asset:mpesa:float', 'liability:member:5:wallet')")).all())
    # the float, which every movement touches, is never updated (so never locked) ...
    assert stored == {"asset:mpesa:float": None, "liability:member:5:wallet": -3_000}
    # ... and its balance is the sum of its postings
    assert ledger.balance(session, MOBILE_MONEY_FLOAT) == 3_000
    assert ledger.balance(session, lender_wallet(5)) == 3_000
    assert ledger.verify(session).ok


def test_an_account_never_used_has_a_zero_balance(session) -> None:
    assert ledger.balance(session, SUSPENSE) == 0
    assert ledger.balance(session, lender_wallet(404)) == 0


@pytest.mark.postgres
def test_postings_are_append_only_on_postgresql(session) -> None:
    deposit(session, 4, 1_000, "dep-append")
    with pytest.raises(Exception, match="append-only"):
        with session.begin_nested():
            session.execute(text("UPDATE ledger_postings SET amount = amount * 2"))


operations = st.lists(
    st.tuples(
        st.sampled_from(["deposit", "withdraw", "transfer", "reverse"]),
        st.integers(1, 4), st.integers(1, 4), st.integers(1, 200_000),
    ),
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_any_sequence_of_operations_keeps_the_books_balanced(session, ops) -> None:
    nested = session.begin_nested()
    posted: list = []
    for n, (op, a, b, amount) in enumerate(ops):
        key = f"prop-{n}"
        if op == "transfer" and a == b:
            continue
        legs = {
            "deposit": [debit(MOBILE_MONEY_FLOAT, amount), credit(lender_wallet(a), amount)],
            "withdraw": [debit(lender_wallet(a), amount), credit(MOBILE_MONEY_FLOAT, amount)],
            "transfer": [debit(lender_wallet(a), amount), credit(lender_wallet(b), amount)],
        }.get(op)
        try:
            with session.begin_nested():
                if legs is None:
                    if posted:
                        ledger.reverse(session, posted[amount % len(posted)])
                else:
                    posted.append(ledger.post(session, key, op, legs))
        except InsufficientFunds:
            pass
    check = ledger.verify(session)
    assert check.ok, check
    for member in range(1, 5):
        assert ledger.balance(session, lender_wallet(member)) >= 0
    nested.rollback()


@pytest.mark.postgres
def test_two_withdrawals_racing_never_overdraw(committed_db) -> None:
    with committed_db.transaction() as s:
        deposit(s, 9, 10_000, "race-dep")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def withdraw(n: int) -> None:
        barrier.wait()
        try:
            with committed_db.transaction() as s:
                ledger.post(s, f"race-w-{n}", "withdrawal", [
                    debit(lender_wallet(9), 7_000), credit(MOBILE_MONEY_FLOAT, 7_000)])
            outcomes.append("ok")
        except InsufficientFunds:
            outcomes.append("refused")

    threads = [threading.Thread(target=withdraw, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
    with committed_db.transaction() as s:
        assert ledger.balance(s, lender_wallet(9)) == 3_000
        assert ledger.verify(s).ok


@pytest.mark.postgres
def test_the_same_key_racing_posts_once(committed_db) -> None:
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def post_once() -> None:
        barrier.wait()
        try:
            with committed_db.transaction() as s:
                deposit(s, 8, 2_500, "race-same-key")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=post_once) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with committed_db.transaction() as s:
        assert ledger.balance(s, lender_wallet(8)) == 2_500
        assert ledger.verify(s).ok
