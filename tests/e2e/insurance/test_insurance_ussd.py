"""The Bima menu over /ussd with the real domain behind it, in English and Swahili."""

from __future__ import annotations

from sqlalchemy import select

from core.gsm7 import USSD_MAX, septets
from insurance import claims
from insurance.models import Claim, Policy
from payments.models import PaymentIntent

from support.ussd import Phone

PIN = "4821"
BIMA = ("9", PIN, "2")  # More, the PIN, Bima insurance


def handset(client, member):

    return Phone(client, member.phone)


def test_the_home_screen_reaches_bima_under_more_in_both_languages(client, insured) -> None:
    for language, label, first in (("en", "2 Bima insurance", "1 My cover"),
                                   ("sw", "2 Bima", "1 Bima yangu")):
        member = insured.member()
        member.language, member.first_name = language, "Nyakwar-Achieng"
        insured.session.commit()
        phone = handset(client, member)
        assert septets(phone.dial()) <= USSD_MAX
        phone.reply("9")
        phone.reply(PIN)
        phone.expect(label, end=False)
        phone.reply("2")
        phone.expect(first, "4 ", end=False)


def test_the_cost_of_credit_shows_the_cover_before_she_accepts(client, insured) -> None:
    insured.product()
    member = insured.member()
    insured.session.commit()
    phone = handset(client, member)
    phone.dial("2", PIN)
    # the member's products are listed; pick the covered one, KES 1,000 over 4 weeks
    options = phone.screen.splitlines()
    pick = next(line.split(" ", 1)[0] for line in options if "Biashara salama" in line)
    phone.reply(pick)
    phone.reply("1000")
    phone.reply("1")  # 4 weekly payments
    phone.reply("1")  # business
    phone.expect("Borrow KES 1,000.", "Cost of credit: KES 60", "98 More", end=False)
    phone.reply("98")  # the rest of the disclosure comes before the choice to accept
    phone.expect("Fee KES 20 and life cover KES 15 are deducted: you receive KES 965.",
                 "1 Accept", end=False)


def test_buying_hospital_cash_prompts_the_phone_once_and_starts_the_cover(
        client, insured, session) -> None:
    member = insured.member()
    session.commit()
    phone = handset(client, member)
    phone.dial(*BIMA, "2")
    phone.expect("pay KES 150 for 30 days", "KES 500 for each night", "10 nights",
                 end=False)
    phone.reply("1")
    phone.expect("Enter your PIN")
    phone.reply(PIN)
    phone.expect("M-Pesa will ask you to pay KES 150 for hospital cash.", end=True)
    replay = phone.post("*".join(phone.answers))  # the telco resends: no second prompt
    assert replay.get_data(as_text=True) == f"END {phone.screen}"
    prompts = session.scalars(select(PaymentIntent)).all()
    assert [(i.kind, i.amount) for i in prompts] == [("bima_premium", 15_000)]
    insured.settle()
    phone.dial(*BIMA, "1")
    phone.expect("Hospital cash to 31/03/2026: 10 nights left")
    phone.dial(*BIMA, "2", "1", PIN)
    phone.expect("You already have hospital cash", end=True)
    insured.assert_sound()


def test_a_member_files_a_hospital_claim_and_sees_it_decided(client, insured,
                                                             session) -> None:
    policy = insured.hospital_cash()
    member = policy.member_id
    phone = handset(client, session.get(type(insured.member()), member))
    phone.dial(*BIMA, "3")
    phone.expect("Claim on which cover?", "1 Hospital cash", end=False)
    phone.reply("1")
    phone.expect("How many nights in hospital?")
    phone.reply("11")
    phone.expect("Enter a number from 1 to 10.", end=False)
    phone.reply("3")
    phone.reply("2")  # yesterday: before she bought the cover this morning
    phone.expect("Claim on Hospital cash: 3 nights in hospital, 01/03/2026.", end=False)
    phone.reply("1")
    phone.reply(PIN)
    phone.expect("That date is not covered.", end=True)
    phone.dial(*BIMA, "3", "1", "3", "1", "1", PIN)  # admitted today
    phone.expect("received. An officer will decide it.", end=True)
    claim = session.scalar(select(Claim))
    phone.expect(f"Claim C{claim.id} received.", end=True)
    assert (claim.amount, claim.filed_by, claim.channel) == (150_000, f"member:{member}",
                                                             "ussd")
    insured.capital(1_000_000)
    claims.approve_claim(session, claim.id, actor="ops@mkopo.test")
    insured.settle()
    phone.dial(*BIMA, "4")
    phone.expect(f"C{claim.id} Hospital cash: paid KES 1,500")


def test_a_borrower_claims_on_her_loan_cover_in_swahili(client, insured, session) -> None:
    loan = insured.covered_loan()
    loan.borrower.language = "sw"
    session.commit()
    phone = handset(client, loan.borrower)
    phone.dial(*BIMA, "3", "1")
    phone.expect("Nini kilitokea?", "1 kifo cha mkopaji", "2 ulemavu", end=False)
    phone.reply("2")
    phone.reply("1")  # leo
    phone.expect(f"Dai kwa Bima ya mkopo {loan.reference}: ulemavu, 02/03/2026.")
    phone.reply("1")
    phone.reply(PIN)
    phone.expect("limepokelewa", end=True)
    (claim,) = session.scalars(select(Claim)).all()
    assert (claim.cause, claim.policy.loan_id) == ("disability", loan.id)
    phone.dial(*BIMA, "4")
    phone.expect(f"C{claim.id} Bima ya mkopo - linaangaliwa")


def test_no_cover_is_said_plainly(client, insured, session) -> None:
    member = insured.member()
    session.commit()
    phone = handset(client, member)
    phone.dial(*BIMA, "1")
    phone.expect("You have no cover yet.")
    phone.dial(*BIMA, "3")
    phone.expect("You have no cover to claim on.", end=True)
    assert session.scalar(select(Policy)) is None
