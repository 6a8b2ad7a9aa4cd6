"""Survey and Learn over /ussd with the real domain behind: consent, answers, opt-out,
lessons told with her own numbers, and completions recorded."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.clock import utcnow
from education.models import LessonProgress
from impact import panel
from impact.models import SurveyOptOut, SurveyResponse

from support.ussd import Phone

PIN = "4821"
TZ = "Africa/Nairobi"


@pytest.fixture
def phone(client: Any) -> Any:

    def dial_as(member) -> Any:
        return Phone(client, member.phone)
    return dial_as


@pytest.fixture
def invited(world, session):
    world.survey()
    amina = world.member()
    invitation = panel.invite_if_due(session, amina.id, utcnow(), TZ)
    session.commit()
    return amina, invitation


def test_the_invitation_is_offered_as_she_dials_and_answered_with_consent(
        phone, invited, session) -> None:
    amina, invitation = invited
    handset = phone(amina)
    handset.dial()
    handset.expect("Help us see how Mkopo helps you: up to 2 short questions",
                   "1 Yes, now", "3 Never ask me", end=False)
    handset.reply("1")
    handset.expect("Enter your PIN")
    handset.reply(PIN)
    handset.expect("Sales?", "1 Low", "4 Top")
    handset.reply("7")
    handset.expect("Invalid choice", "Sales?")
    handset.reply("3")
    handset.expect("Meals?", "2 Enough")
    handset.reply("0")  # back to the first question
    handset.expect("Sales?")
    handset.reply("4")
    handset.reply("2")
    handset.expect("Thank you! Your answers help us", end=True)
    response = session.scalars(select(SurveyResponse)).one()
    assert response.answers == {"sales": 4, "meals": 2}
    assert response.scores == {"business": "100.0", "home": "100.0"}
    session.refresh(invitation)
    assert invitation.status == "answered" and invitation.consented_at is not None
    handset.dial()
    handset.expect("welcome to Mkopo", "9 More")  # asked once, not again


def test_the_swahili_survey_reads_in_swahili(world, phone, session) -> None:
    world.survey()
    baraka = world.member(language="sw")
    panel.invite_if_due(session, baraka.id, utcnow(), TZ)
    session.commit()
    handset = phone(baraka)
    handset.dial("1", PIN)
    handset.expect("Mauzo?", "1 Low sw")


def test_not_now_goes_on_to_her_menu_and_leaves_it_under_more_services(
        phone, invited, session) -> None:
    amina, _ = invited
    handset = phone(amina)
    handset.dial("2")
    handset.expect("welcome to Mkopo", "1 My balance", end=False)
    handset.dial()
    handset.expect("welcome to Mkopo")
    handset.reply("9")
    handset.expect("Enter your PIN")
    handset.reply(PIN)
    handset.expect("More services", "3 Learn", "4 Survey")
    handset.reply("4")
    handset.expect("up to 2 short questions", "1 Yes, now")


def test_never_ask_me_opts_her_out_and_she_can_come_back(phone, invited, session) -> None:
    amina, _ = invited
    handset = phone(amina)
    handset.dial("3")
    handset.expect("welcome to Mkopo", "9 More", end=False)
    assert session.get(SurveyOptOut, amina.id) is not None
    handset.dial("9", PIN, "4")
    handset.expect("You asked not to take surveys", "1 Take part again")
    handset.reply("1")
    handset.expect("We may ask you to take part later", end=True)
    assert session.scalar(select(SurveyOptOut).where(SurveyOptOut.member_id == amina.id)) is None


def test_not_now_from_more_services_ends_with_where_to_find_it(phone, invited) -> None:
    amina, _ = invited
    handset = phone(amina)
    handset.dial("2", "9", PIN, "4")
    handset.expect("up to 2 short questions")
    handset.reply("2")
    handset.expect("You can answer later", end=True)


def test_without_an_invitation_the_survey_entry_says_so(world, phone, session) -> None:
    amina = world.member()
    session.commit()
    handset = phone(amina)
    handset.dial("9", PIN, "4")
    handset.expect("There is no survey for you now", end=True)


def test_the_interest_lesson_uses_her_own_loan(world, phone, session) -> None:
    amina = world.member()
    world.loan(amina)  # KES 1,000 at 52% flat over 4 weeks: repays KES 1,040
    session.commit()
    handset = phone(amina)
    handset.dial("9", PIN, "3")
    handset.expect("Learn: short lessons. Lessons done: 0 of 4.", "1 Interest and APR")
    handset.reply("1")
    handset.expect("Your loan: you get KES 1,000 and repay KES 1,040", "KES 40, is the cost",
                   "1 Question")
    handset.reply("1")
    handset.expect("Which costs less?", "2 The one with the lower APR")
    handset.reply("2")
    handset.expect("Correct! This lesson is complete. Lessons done: 1 of 4.",
                   "1 Other lessons", end=False)  # she stays in Learn
    handset.reply("1")
    handset.expect("Learn: short lessons. Lessons done: 1 of 4.", end=False)
    row = session.scalars(select(LessonProgress)).one()
    assert (row.member_id, row.lesson, row.attempts) == (amina.id, "apr", 1)
    assert row.completed_at is not None


def test_without_a_loan_the_lesson_quotes_her_product(world, phone, session) -> None:
    amina = world.member()
    world.product()
    session.commit()
    handset = phone(amina)
    handset.dial("9", PIN, "3", "1")
    # her credit limit (KES 2,000 on verification) at 52% flat over the shortest term
    assert amina.credit_limit == 200_000
    handset.expect("Example for you: borrow KES 2,000, get KES 2,000, repay KES 2,080",
                   "Cost of credit KES 80")


def test_a_wrong_answer_explains_and_does_not_complete(world, phone, session) -> None:
    amina = world.member()
    session.commit()
    handset = phone(amina)
    handset.dial("9", PIN, "3", "3")
    handset.expect("Save a little each time you earn")
    handset.reply("1")
    handset.reply("1")
    handset.expect("Not quite. Save as soon as you earn", "1 Try again", end=False)
    handset.reply("1")
    handset.reply("3")
    handset.expect("Correct!", "Lessons done: 1 of 4", end=False)
    row = session.scalars(select(LessonProgress)).one()
    assert row.attempts == 2 and row.completed_at is not None


@pytest.mark.parametrize("language", ["en", "sw"])
def test_every_lesson_and_its_choice_fit_one_screen(language) -> None:
    from core.gsm7 import USSD_MAX, septets
    from menus.flows.learn import APR_LOAN, APR_QUOTE, CHECK, LESSON_TEXTS
    from menus.texts import translate

    worst = {"amount": "KES 10,000,000", "net": "KES 9,900,000", "total": "KES 12,000,000",
             "cost": "KES 2,100,000", "apr": "123.4"}
    for text in (APR_LOAN, APR_QUOTE, *LESSON_TEXTS.values()):
        screen = f"{translate(language, text, **worst)}\n1 {translate(language, CHECK)}"
        assert septets(screen) <= USSD_MAX, screen


@pytest.mark.parametrize(("language", "wrong", "again", "other"), [
    ("en", "Not quite. Needs such as food and your installment come first.", "1 Try again",
     "2 Other lessons"),
    ("sw", "Si sahihi. Mahitaji kama chakula na awamu yako huja kwanza.", "1 Jaribu tena",
     "2 Masomo mengine"),
])
def test_a_wrong_answer_offers_another_try_not_a_dead_end(world, phone, session, language,
                                                          wrong, again, other) -> None:
    amina = world.member()
    amina.language = language
    session.commit()
    handset = phone(amina)
    handset.dial("9", PIN, "3", "2", "1", "3")  # Budgeting: "A party" is not what comes first
    screen = handset.expect(wrong, again, other, end=False)
    assert "from Learn" not in screen and "kutoka Jifunze" not in screen
    handset.reply("1")  # the same question again
    handset.reply("1")
    handset.expect("Correct!" if language == "en" else "Sahihi!", end=False)
