"""Dropped sessions resume where they stopped, money moves once, and wrong PINs lock."""

from __future__ import annotations

import json

from menus.engine import RESUME_TTL, resume_key

from support.ussd import PHONE, Phone

PIN = "1357"


def test_a_new_session_within_five_minutes_offers_to_continue(ussd, services, member,
                                                              redis) -> None:
    ussd.dial("2", "1", "5000")
    ussd.expect("How many payments?")
    assert 0 < redis.ttl(resume_key(PHONE)) <= RESUME_TTL
    ussd.dial()
    ussd.expect("You did not finish: Apply for a loan.", "1 Continue", "2 Start again")
    ussd.reply("1")
    ussd.expect("How many payments?", "0 Back 00 Home")
    ussd.reply("2")
    ussd.reply("1")
    ussd.expect("Borrow KES 5,000. Pay KES 725 x 8")


def test_an_incomplete_event_keeps_the_place(ussd, services, member, redis) -> None:
    ussd.dial("2", "1")
    redis.delete(resume_key(PHONE))  # as if the 5 minutes since the last step had run out
    assert ussd.drop("Incomplete").status_code == 200
    assert 0 < redis.ttl(resume_key(PHONE)) <= RESUME_TTL
    ussd.dial("1")
    ussd.expect("Enter amount from KES 1,000 to KES 10,000")


def test_a_successful_end_leaves_nothing_to_resume(ussd, member, redis) -> None:
    ussd.dial("2", "1")
    ussd.drop("Success")
    assert redis.get(resume_key(PHONE)) is None
    ussd.dial()
    ussd.expect("Hi Amina")


def test_start_again_goes_home_and_forgets(ussd, member, redis) -> None:
    ussd.dial("2", "1")
    ussd.dial("2")
    ussd.expect("Hi Amina", "1 My balance")
    assert redis.get(resume_key(PHONE)) is None
    ussd.dial()
    ussd.expect("Hi Amina")


def test_nothing_to_resume_after_a_finished_flow(ussd, member) -> None:
    ussd.dial("3", "1", PIN, "1")
    ussd.expect(end=True)
    ussd.dial()
    ussd.expect("Hi Amina")


def test_resumed_sessions_in_swahili_speak_swahili(ussd, services) -> None:
    services.add_member(PHONE, language="sw")
    ussd.dial("4")
    ussd.dial()
    ussd.expect("Hukumaliza: Taarifa fupi.", "1 Endelea", "2 Anza upya")
    ussd.reply("1")
    ussd.expect("Weka PIN yako")


def test_a_resumed_private_screen_asks_the_pin_again(ussd, services, member) -> None:
    ussd.dial("3", "1", PIN)
    ussd.expect("Pay KES 1,350 to loan MK00001")
    ussd.drop()
    ussd.dial("1")
    ussd.expect("Enter your PIN")
    ussd.reply(PIN)
    ussd.expect("Pay KES 1,350 to loan MK00001")
    ussd.reply("1")
    ussd.expect("M-Pesa prompt", end=True)
    assert len(services.repayments) == 1


def test_registration_resumes_at_the_pin_because_pins_are_not_kept(ussd, services,
                                                                   redis) -> None:
    ussd.dial("1", "Amina Wanjiru", "23456789", "2580", "2580")
    ussd.expect("Choose your language")
    snapshot = json.loads(redis.get(resume_key(PHONE)))
    assert "2580" not in json.dumps(snapshot)
    ussd.dial("1")
    ussd.expect("Choose a 4-digit PIN")
    ussd.reply("2580")
    ussd.reply("2580")
    ussd.reply("1")
    ussd.reply("1")
    ussd.expect("Thank you Amina", end=True)
    assert services.members[PHONE].national_id == "23456789"


def test_an_application_resumed_twice_is_submitted_once(client, ussd, services,
                                                        member) -> None:

    ussd.dial("2", "1", "5000", "1", "1", "1")
    ussd.expect("Enter your PIN")
    ussd.drop()
    first, second = Phone(client), Phone(client)
    first.dial()
    second.dial()
    first.reply("1")
    second.reply("1")
    first.reply(PIN)
    second.reply(PIN)
    first.expect("Loan reference MK00101", end=True)
    second.expect("Loan reference MK00101", end=True)
    assert len(services.applications) == 1
    assert services.calls.count("apply") == 2  # the second call was deduplicated by its key


def test_a_repayment_resumed_twice_is_requested_once(client, ussd, services, member) -> None:

    ussd.dial("3", "2", PIN)
    ussd.drop()
    first, second = Phone(client), Phone(client)
    first.dial()
    second.dial()
    for handset in (first, second):
        handset.reply("1")
        handset.reply(PIN)
        handset.reply("1")
        handset.expect("M-Pesa prompt", end=True)
    assert len(services.repayments) == 1


def test_three_wrong_pins_lock_for_thirty_minutes(ussd, services, member) -> None:
    ussd.dial("1", "1111")
    ussd.expect("Wrong PIN. Tries left: 2.", "Enter your PIN", end=False)
    ussd.reply("2222")
    ussd.expect("Tries left: 1.")
    ussd.reply("3333")
    ussd.expect("Your PIN is locked until 09:30", end=True)


def test_the_wrong_pin_count_survives_sessions(ussd, services, member) -> None:
    ussd.dial("1", "1111", "2222")
    ussd.dial("2", "4", "3333")  # start again, then the statement
    ussd.expect("locked until 09:30", end=True)


def test_a_locked_member_is_stopped_before_typing(ussd, services, member, clock) -> None:
    ussd.dial("1", "1111", "2222", "3333")
    calls = services.calls.count("verify_pin")
    ussd.dial("1")
    ussd.expect("locked until 09:30", end=True)
    assert services.calls.count("verify_pin") == calls
    clock.advance(minutes=31)
    ussd.dial("1", PIN)
    ussd.expect("Outstanding: KES 5,400")


def test_the_lock_message_is_in_swahili_too(ussd, services) -> None:
    services.add_member(PHONE, language="sw")
    ussd.dial("1", "1111", "2222")
    ussd.expect("PIN si sahihi. Majaribio yaliyobaki: 1.")
    ussd.reply("3333")
    ussd.expect("PIN yako imefungwa hadi saa 09:30", end=True)


def test_a_malformed_pin_does_not_cost_a_try(ussd, services, member) -> None:
    ussd.dial("1", "12")
    ussd.expect("Your PIN is 4 digits.")
    assert services.calls.count("verify_pin") == 0
    ussd.reply(PIN)
    ussd.expect("Outstanding")


def test_a_screen_that_was_only_read_is_not_offered_for_resuming(ussd, member) -> None:
    ussd.dial("1", PIN)
    ussd.expect("Outstanding")
    ussd.drop()
    ussd.dial()
    assert "1 Continue" not in ussd.screen
    ussd.expect("1 My balance")
