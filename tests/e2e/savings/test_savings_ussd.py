"""The Akiba savings menu over /ussd with the real domain behind it, in English and Swahili."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from core.gsm7 import USSD_MAX, septets
from messaging.models import SmsMessage
from payments.models import PaymentIntent
from savings import chamas
from savings.models import SavingsAccount

from support.ussd import Phone

PIN = "4821"
KES = 100
SAVINGS = ("9", PIN, "1")  # More, the PIN, Akiba savings


def handset(client, member):

    return Phone(client, member.phone)


def test_the_home_screen_reaches_savings_under_more_in_both_languages(client, savers) -> None:
    for language in ("en", "sw"):
        member = savers.member(first_name="Nyakwar-Achieng Wanjiku", language=language)
        savers.session.commit()
        phone = handset(client, member)
        home = phone.dial()
        assert septets(home) <= USSD_MAX
        assert home.endswith("9 More" if language == "en" else "9 Zaidi")
        phone.reply("9")
        phone.reply(PIN)
        phone.expect("1 Akiba" if language == "en" else "1 Akiba", end=False)
        phone.reply("1")
        phone.expect("1 My savings" if language == "en" else "1 Akiba yangu", end=False)


def test_a_deposit_on_ussd_prompts_the_phone_and_credits_the_account(client, savers,
                                                                     session) -> None:
    member = savers.member()
    session.commit()
    phone = handset(client, member)
    phone.dial(*SAVINGS, "2", "1", "250")
    phone.expect("Deposit KES 250 into Akiba from your M-Pesa?", end=False)
    phone.reply("1")
    phone.expect("M-Pesa will ask you to pay KES 250", end=True)
    replay = phone.post("*".join(phone.answers))  # the telco resends: no second prompt
    assert replay.get_data(as_text=True) == f"END {phone.screen}"
    intents = session.scalars(select(PaymentIntent)).all()
    assert [(i.kind, i.amount, i.phone) for i in intents] == [
        ("savings_deposit", 250 * KES, member.phone)]
    savers.session.commit()
    savers.worker.run()
    assert savers.balance(savers.akiba(member)) == 250 * KES
    phone.dial(*SAVINGS, "1")
    phone.expect("Akiba: KES 250", "Interest: 6% a year")
    savers.assert_sound()


def test_a_goal_is_opened_with_a_lock_and_shown_locked(client, savers, session) -> None:
    member = savers.member(language="sw")
    session.commit()
    phone = handset(client, member)
    phone.dial(*SAVINGS, "4", "Karo ya shule", "5000")
    phone.expect("Funga pesa kwa muda?", "1 Bila kufunga", "2 Miezi 3", end=False)
    phone.reply("2")  # locked 3 months: she is told until when
    phone.expect("Lengo Karo ya shule limefunguliwa", "KES 5,000", "Imefungwa hadi 02/06/2026.",
                 end=True)
    goal = session.scalar(select(SavingsAccount).where(SavingsAccount.kind == "goal"))
    assert (goal.name, goal.target, goal.lock_until) == ("Karo ya shule", 5_000 * KES,
                                                         date(2026, 6, 2))
    phone.dial(*SAVINGS, "1")
    phone.expect("Karo ya shule: KES 0 kati ya KES 5,000 (imefungwa hadi 02/06/2026)")
    phone.dial(*SAVINGS, "3", "2")
    phone.expect("Lengo hili limefungwa", end=True)


def test_a_withdrawal_asks_for_the_pin_again_and_pays_once(client, savers, session) -> None:
    member = savers.member()
    savers.deposit(member, 1_000 * KES)
    phone = handset(client, member)
    phone.dial(*SAVINGS, "3", "1")
    phone.expect("Up to KES 1,000", end=False)
    phone.reply("400")
    phone.expect("Withdraw KES 400 from Akiba to your M-Pesa?")
    phone.reply("1")
    phone.expect("Enter your PIN")
    phone.reply(PIN)
    phone.expect("KES 400 is on its way to your M-Pesa.", end=True)
    phone.post("*".join(phone.answers))
    savers.session.commit()
    savers.worker.run()
    assert savers.balance(savers.akiba(member)) == 600 * KES
    payouts = session.scalars(select(PaymentIntent).where(
        PaymentIntent.kind == "savings_payout")).all()
    assert [(p.amount, p.status) for p in payouts] == [(400 * KES, "succeeded")]
    savers.assert_sound()


def test_too_much_is_asked_again_with_the_limit(client, savers, session) -> None:
    member = savers.member()
    savers.deposit(member, 100 * KES)
    phone = handset(client, member)
    phone.dial(*SAVINGS, "3", "1", "500")
    phone.expect("Enter an amount from KES 10 to KES 100.", end=False)


def test_the_chama_screen_contributes_and_sends_the_statement(client, savers,
                                                              session) -> None:
    people = [savers.member(first_name=n) for n in ("Amina", "Baraka")]
    chama = chamas.create_chama(session, name="Tumaini", contribution=500 * KES,
                                frequency="weekly", start_date=date(2026, 3, 2),
                                member_ids=[p.id for p in people])
    session.commit()
    phone = handset(client, people[1])
    phone.dial(*SAVINGS, "5")
    phone.expect("Tumaini: round 1, pot KES 0.", "Next payout: Amina on 09/03/2026",
                 "You paid KES 0 of KES 500", "1 Pay my contribution", end=False)
    phone.reply("1")
    phone.reply("1")
    phone.expect("M-Pesa will ask you to pay KES 500 to Tumaini", end=True)
    savers.session.commit()
    savers.worker.run()
    assert chamas.pot(session, chama.id, 1) == 500 * KES
    phone.dial(*SAVINGS, "5", "2")
    phone.expect("statement is on its way", end=True)
    sms = session.scalar(select(SmsMessage).where(SmsMessage.template == "chama_statement"))
    assert sms is not None and sms.to_phone == people[1].phone


def test_no_chama_is_said_plainly(client, savers, session) -> None:
    member = savers.member()
    session.commit()
    phone = handset(client, member)
    phone.dial(*SAVINGS, "5")
    phone.expect("You are not in a chama yet", end=True)


def test_a_pending_member_does_not_see_more(client, savers, session) -> None:
    from lending import members

    pending = members.register_member(session, phone="+254799000222", first_name="Faraji",
                                      national_id="P123", pin=PIN, language="en",
                                      consent=True)
    session.commit()
    screen = handset(client, pending).dial()
    assert "More" not in screen


def test_the_mini_statement_names_savings_movements_in_both_languages(client, savers,
                                                                      session) -> None:
    expected = {
        "en": ["Sent to M-Pesa KES 400", "Savings withdrawal KES 400",
               "Savings deposit KES 1,000"],
        "sw": ["Imetumwa M-Pesa KES 400", "Kutoa akiba KES 400", "Akiba imewekwa KES 1,000"],
    }
    for language, lines in expected.items():
        member = savers.member(language=language)
        savers.deposit(member, 1_000 * KES)
        phone = handset(client, member)
        phone.dial(*SAVINGS, "3", "1", "400", "1", PIN)
        savers.session.commit()
        savers.worker.run()
        statement = handset(client, member).dial("4", PIN)
        assert "Correction" not in statement and "Marekebisho" not in statement, statement
        shown = [line[6:] for line in statement.splitlines()[1:4]]  # after "dd/mm "
        assert shown == lines, statement


def test_a_goal_without_a_lock_says_no_lock_date(client, savers, session) -> None:
    member = savers.member()
    session.commit()
    phone = handset(client, member)
    phone.dial(*SAVINGS, "4", "Shamba", "5000")
    screen = phone.expect("Lock the money for a while?", "1 No lock", end=False)
    assert "until the date" not in screen  # no date has been given: nothing to refer to
    phone.reply("1")
    screen = phone.expect("Goal Shamba is open. Target: KES 5,000.", end=True)
    assert "Locked" not in screen
