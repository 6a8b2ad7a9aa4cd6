"""The USSD lender menu end to end (real domain), in English and Kiswahili; every screen fits."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.gsm7 import septets
from lending import lenders
from lending.models import LoanFunding, Member
from lending.stories import set_story
from menus.flows.lender import LINE_MAX
from payments.models import PaymentIntent

PIN = "4826"
UNIT = 10_000
LEND_OPTION = "8"

SCREENS = {
    "en": {"join": "Become a lender", "joined": "You are now a lender", "menu": "Lender menu",
           "wallet": "Wallet: KES 500", "deposit_ask": "Top up how much",
           "deposit_sent": "Check your phone", "list": "Loans raising money",
           "more": "More loans", "shares": "How many shares of KES 100?",
           "range": "Enter a number from 1 to 3.", "poor": "Your wallet has KES 500.",
           "confirm": "Lend KES 200 (2 shares) to Neema?",
           "confirm_one": "Lend KES 100 (1 share) to Neema?", "lent": "Thank you! You lent KES 200",
           "pin": "Enter your PIN", "portfolio": "Raising: 1", "received": "Repayments received",
           "withdraw_ask": "Up to KES 500.", "withdraw_sent": "is on its way to your M-Pesa",
           "nothing": "There is nothing you can withdraw now.",
           "no_loans": "No loans are raising money now."},
    "sw": {"join": "Kuwa mkopeshaji", "joined": "Sasa wewe ni mkopeshaji",
           "menu": "Menyu ya mkopeshaji", "wallet": "Pochi: KES 500",
           "deposit_ask": "Weka kiasi gani", "deposit_sent": "Angalia simu yako",
           "list": "Mikopo inayotafuta pesa", "more": "Mikopo zaidi",
           "shares": "Hisa ngapi za KES 100?", "range": "Weka namba kuanzia 1 hadi 3.",
           "poor": "Pochi yako ina KES 500.", "confirm": "Mkopeshe Neema KES 200 (hisa 2)?",
           "confirm_one": "Mkopeshe Neema KES 100 (hisa 1)?",
           "lent": "Asante! Umemkopesha Neema KES 200", "pin": "PIN",
           "portfolio": "Inatafuta pesa: 1", "received": "Marejesho uliyopokea",
           "withdraw_ask": "Hadi KES 500.", "withdraw_sent": "zinatumwa kwa M-Pesa yako",
           "nothing": "Hakuna kiasi unachoweza kutoa sasa.",
           "no_loans": "Hakuna mikopo inayotafuta pesa sasa."},
}
LANGUAGES = pytest.mark.parametrize("lang", ["en", "sw"])


@pytest.fixture
def lender_in(world):
    """A lender speaking `lang` with KES 500 in the wallet."""
    return lambda lang: world.lender(wallet=5 * UNIT, language=lang)


def open_menu(phone, lang: str) -> None:
    phone.dial(LEND_OPTION)
    phone.expect(SCREENS[lang]["pin"], end=False)
    phone.reply(PIN)
    phone.expect(SCREENS[lang]["menu"], end=False)


@LANGUAGES
def test_a_borrower_becomes_a_lender(world, session, handset, lang) -> None:
    borrower = world.member(language=lang)
    phone = handset(borrower)
    phone.dial(LEND_OPTION)
    phone.expect(SCREENS[lang]["join"], end=False)
    phone.reply("1")
    phone.reply(PIN)
    phone.expect(SCREENS[lang]["joined"], end=True)
    session.expire_all()
    assert session.get(Member, borrower.id).is_lender is True


@LANGUAGES
def test_the_wallet_balance(handset, lender_in, lang) -> None:
    phone = handset(lender_in(lang))
    open_menu(phone, lang)
    phone.reply("1")
    phone.expect(SCREENS[lang]["wallet"], end=False)


@LANGUAGES
def test_a_top_up_sends_an_mpesa_prompt(session, handset, lender_in, lang) -> None:
    lender = lender_in(lang)
    phone = handset(lender)
    open_menu(phone, lang)
    phone.reply("2")
    phone.expect(SCREENS[lang]["deposit_ask"], end=False)
    phone.reply("250")
    phone.reply("1")
    phone.expect(SCREENS[lang]["deposit_sent"], "KES 250", end=True)
    intent = session.scalar(select(PaymentIntent).where(PaymentIntent.member_id == lender.id))
    assert (intent.kind, intent.amount, intent.phone) == ("deposit", 25_000, lender.phone)


@LANGUAGES
def test_browse_story_and_lend_shares_with_the_pin(world, session, handset, lender_in,
                                                   lang) -> None:
    lender = lender_in(lang)
    loans = [world.loan(3 * UNIT, first_name="Neema", sector="tailoring", place="Kibuye")
             for _ in range(4)]
    set_story(session, loans[3].id, "I sew school uniforms and want a second machine.")
    session.flush()
    phone = handset(lender)
    open_menu(phone, lang)

    listing = phone.reply("3")
    phone.expect(SCREENS[lang]["list"], SCREENS[lang]["more"], end=False)
    lines = [line for line in listing.split("\n") if "Neema" in line]
    assert len(lines) == 3 and all(septets(line) <= LINE_MAX for line in lines)
    assert "Neema tailoring Kibuye 300 0%" in lines[0]
    phone.reply("4")  # the next page holds the fourth loan
    assert sum("Neema" in line for line in phone.screen.split("\n")) == 1
    phone.reply("1")
    phone.expect("second machine", end=False)
    phone.reply("1")
    phone.expect(SCREENS[lang]["shares"], end=False)
    phone.reply("9")
    phone.expect(SCREENS[lang]["range"], end=False)
    phone.reply("1")
    phone.expect(SCREENS[lang]["confirm_one"], end=False)  # one share, in the singular
    phone.reply("0")
    phone.expect(SCREENS[lang]["shares"], end=False)
    phone.reply("2")
    phone.expect(SCREENS[lang]["confirm"], end=False)
    phone.reply("1")
    phone.expect(SCREENS[lang]["pin"], end=False)
    phone.reply(PIN)
    phone.expect(SCREENS[lang]["lent"], "KES 300", end=True)

    stake = session.scalar(select(LoanFunding).where(LoanFunding.lender_id == lender.id))
    assert (stake.loan_id, stake.shares, stake.amount) == (loans[3].id, 2, 2 * UNIT)


@LANGUAGES
def test_lending_more_than_the_wallet_holds_is_refused_politely(world, handset, lender_in,
                                                                lang) -> None:
    lender = lender_in(lang)
    world.loan(8 * UNIT, first_name="Neema")
    phone = handset(lender)
    open_menu(phone, lang)
    phone.reply("3")
    phone.reply("1")
    phone.reply("1")
    phone.reply("6")
    phone.expect(SCREENS[lang]["poor"], end=False)


@LANGUAGES
def test_no_loans_to_browse(handset, lender_in, lang) -> None:
    phone = handset(lender_in(lang))
    open_menu(phone, lang)
    phone.reply("3")
    phone.expect(SCREENS[lang]["no_loans"], end=True)


@LANGUAGES
def test_the_portfolio(world, session, handset, lender_in, lang) -> None:
    lender = lender_in(lang)
    loan = world.loan(3 * UNIT)
    lenders.fund(session, lender_id=lender.id, loan_id=loan.id, shares=1,
                 idempotency_key="ussd-portfolio")
    session.flush()
    phone = handset(lender)
    open_menu(phone, lang)
    phone.reply("4")
    phone.expect(SCREENS[lang]["portfolio"], SCREENS[lang]["received"], end=False)


@LANGUAGES
def test_a_withdrawal_with_the_pin(session, handset, lender_in, lang) -> None:
    lender = lender_in(lang)
    phone = handset(lender)
    open_menu(phone, lang)
    phone.reply("5")
    phone.expect(SCREENS[lang]["withdraw_ask"], end=False)
    phone.reply("600")  # more than the wallet: asked again
    phone.expect("KES 500", end=False)
    phone.reply("200")
    phone.reply("1")
    phone.expect(SCREENS[lang]["pin"], end=False)
    phone.reply(PIN)
    phone.expect(SCREENS[lang]["withdraw_sent"], "KES 200", end=True)
    assert lenders.wallet_balance(session, lender.id) == 3 * UNIT


@LANGUAGES
def test_an_empty_wallet_has_nothing_to_withdraw(world, handset, lang) -> None:
    phone = handset(world.lender(language=lang))
    open_menu(phone, lang)
    phone.reply("5")
    phone.expect(SCREENS[lang]["nothing"], end=True)


def test_a_wrong_pin_on_the_signature_lends_nothing(world, session, handset, lender_in) -> None:
    lender = lender_in("en")
    world.loan(3 * UNIT, first_name="Neema")
    phone = handset(lender)
    open_menu(phone, "en")
    for answer in ("3", "1", "1", "1", "1"):
        phone.reply(answer)
    phone.reply("9999")
    phone.expect("Wrong PIN", end=False)
    assert session.scalar(select(LoanFunding).where(LoanFunding.lender_id == lender.id)) is None


REPAYMENT_SMS = {
    "en": ("Repayment SMS now: One SMS a day", "Your choice is saved."),
    "sw": ("SMS za marejesho sasa: SMS moja kwa siku", "Chaguo lako limehifadhiwa."),
}


@LANGUAGES
def test_a_lender_chooses_an_sms_for_each_repayment(session, handset, lender_in,
                                                   lang) -> None:
    lender = lender_in(lang)
    phone = handset(lender)
    open_menu(phone, lang)
    phone.reply("6")
    now, saved = REPAYMENT_SMS[lang]
    phone.expect(now, end=False)  # the daily digest is the default
    phone.reply("2")
    phone.expect(saved, end=True)
    session.expire_all()
    assert session.get(Member, lender.id).repayment_sms == "each"
