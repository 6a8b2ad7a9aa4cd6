"""PIN lockout: escalating locks, the member told by SMS, an unlock, and no race past 3."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from lending import members
from lending.errors import LendingError
from lending.models import Member
from messaging.models import SmsMessage


def wrong_three_times(session, member_id):
    return [members.check_pin(session, member_id, "0000") for _ in range(3)][-1]


def sms_to(session, member):
    return list(session.scalars(select(SmsMessage).where(SmsMessage.to_phone == member.phone)
                                .where(SmsMessage.template.like("pin_%"))
                                .order_by(SmsMessage.id)))


def test_locks_escalate_from_30_minutes_to_24_hours_to_until_unlocked(lending, clock) -> None:
    member = lending.member(language="sw")
    first = wrong_three_times(lending.session, member.id)
    assert first.locked_until == clock.now() + timedelta(minutes=30)
    clock.advance(minutes=31)
    second = wrong_three_times(lending.session, member.id)
    assert second.locked_until == clock.now() + timedelta(hours=24)
    clock.advance(hours=25)
    third = wrong_three_times(lending.session, member.id)
    assert third.locked_until == members.LOCKED_UNTIL_UNLOCKED and members.needs_unlock(member)
    clock.advance(days=400)
    assert members.check_pin(lending.session, member.id, "4821").locked_until is not None

    messages = sms_to(lending.session, member)
    assert [m.template for m in messages] == [
        "pin_locked_30_minutes", "pin_locked_24_hours", "pin_locked_until_unlocked"]
    assert "dakika 30" in messages[0].body and "saa 24" in messages[1].body
    assert "mshirika wako" in messages[2].body and "4821" not in messages[2].body


def test_a_right_pin_after_a_lock_starts_the_escalation_again(lending, clock) -> None:
    member = lending.member()
    wrong_three_times(lending.session, member.id)
    clock.advance(minutes=31)
    assert members.check_pin(lending.session, member.id, "4821").ok
    assert (member.pin_lock_level, member.failed_pin_attempts) == (0, 0)
    assert wrong_three_times(lending.session, member.id).locked_until == (
        clock.now() + timedelta(minutes=30))


def test_an_unlock_lifts_the_lock_resets_the_escalation_and_tells_the_member(
        lending, clock) -> None:
    member = lending.member()
    for _ in range(3):
        wrong_three_times(lending.session, member.id)
        clock.advance(hours=25)
    assert members.needs_unlock(member)
    members.unlock_pin(lending.session, member.id, "officer-7")
    assert (member.pin_locked_until, member.failed_pin_attempts, member.pin_lock_level) == (
        None, 0, 0)
    assert members.check_pin(lending.session, member.id, "4821").ok
    assert sms_to(lending.session, member)[-1].template == "pin_unlocked"
    with pytest.raises(LendingError, match="pin_not_locked"):
        members.unlock_pin(lending.session, member.id, "officer-7")


def test_a_lock_that_ran_out_is_not_unlocked_again(lending, clock) -> None:
    member = lending.member()
    wrong_three_times(lending.session, member.id)
    clock.advance(minutes=31)
    with pytest.raises(LendingError, match="pin_not_locked"):
        members.unlock_pin(lending.session, member.id, "officer-7")


def test_parallel_guesses_count_three_and_no_more(committed_db, is_postgres, monkeypatch) -> None:
    """Ten sessions guess at once; without the row lock each would read 0 wrong so far."""
    with committed_db.transaction() as s:
        member = members.register_member(
            s, phone="+254711000999", first_name="Achieng", national_id="55500011", pin="4821",
            language="en", consent=True)
        member_id, phone = member.id, member.phone
    compared: list[str] = []
    real_matches = members.pin_matches

    def slow_matches(stored: str, pin: str) -> bool:
        compared.append(pin)
        time.sleep(0.05)  # a wide window for a read-modify-write race to show
        return real_matches(stored, pin)

    monkeypatch.setattr(members, "pin_matches", slow_matches)
    guesses = [f"{n:04d}" for n in range(1000, 1010)]  # ten wrong PINs at once
    outcomes = []

    def guess(pin: str) -> None:
        with committed_db.transaction() as s:
            outcomes.append(members.check_pin(s, member_id, pin))

    if is_postgres:
        barrier = threading.Barrier(len(guesses))
        threads = [threading.Thread(target=lambda p=p: (barrier.wait(), guess(p)))
                   for p in guesses]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:  # SQLite serialises writers; the count is still checked
        for pin in guesses:
            guess(pin)

    assert len(outcomes) == len(guesses) and not any(o.ok for o in outcomes)
    assert len(compared) == 3  # the rest were refused as locked without a look at the PIN
    assert sorted(o.tries_left for o in outcomes if o.locked_until is None) == [1, 2]
    with committed_db.transaction() as s:
        stored = s.get(Member, member_id)
        assert (stored.failed_pin_attempts, stored.pin_lock_level) == (3, 1)
        locks = s.scalars(select(SmsMessage.template).where(SmsMessage.to_phone == phone)
                          .where(SmsMessage.template.like("pin_locked%"))).all()
        assert locks == ["pin_locked_30_minutes"]
