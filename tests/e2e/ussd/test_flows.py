"""Every borrower flow, end to end over `/ussd`, in English and in Kiswahili."""

from __future__ import annotations

import pytest

from menus.ports import PENDING

from support.ussd import PHONE

PIN = "1357"

WORDS = {
    "en": {
        "home": "1 My balance", "pin": "Enter your PIN", "outstanding": "Outstanding: KES 5,400",
        "due": "Next payment: KES 1,350 on 09/03/2026",
        "overdue": "Overdue since 09/03/2026: KES 1,350", "limit": "Credit limit: KES 10,000",
        "products": "1 Biashara KES 1,000-10,000", "amount": "Enter amount from KES 1,000",
        "terms": "1 4 weekly payments", "purpose": "What is the loan for?",
        "disclosure": "Total to repay: KES 5,400", "cost": "Cost of credit: KES 400",
        "apr": "APR: ", "applied": "Loan reference MK", "declined": "No loan was requested",
        "repay": "1 Next installment", "confirm": "Pay KES 1,350 to loan MK00001",
        "full": "Pay KES 5,400 to loan", "prompt": "You will receive an M-Pesa prompt",
        "cancelled": "Payment cancelled", "statement": "Mini statement", "kind": "Payment",
        "account": "1 Change PIN", "pin_changed": "Your PIN has been changed",
        "language": "Choose your language", "reminders": "SMS reminders now: Before and on",
        "saved": "Your reminder choice is saved", "help": "Paybill 600100, account MK00001",
        "ticket": "1 Make a complaint", "describe": "Briefly describe the problem",
        "ticket_done": "Your request T0001 is received", "back": "0 Back 00 Home",
        "other": "Enter amount from KES 1 to KES 5,400", "more": "98 More",
    },
    "sw": {
        "home": "1 Salio langu", "pin": "Weka PIN yako", "outstanding": "Deni: KES 5,400",
        "due": "Malipo yajayo: KES 1,350 tarehe 09/03/2026",
        "overdue": "Imechelewa tangu 09/03/2026: KES 1,350",
        "limit": "Kikomo cha mkopo: KES 10,000",
        "products": "1 Biashara KES 1,000-10,000", "amount": "Weka kiasi kati ya KES 1,000",
        "terms": "1 Malipo 4 ya kila wiki", "purpose": "Mkopo ni wa nini?",
        "disclosure": "Jumla ya kulipa: KES 5,400", "cost": "Gharama ya mkopo: KES 400",
        "apr": "Riba ya mwaka (APR): ", "applied": "Namba ya mkopo ni MK",
        "declined": "Hakuna mkopo ulioombwa", "repay": "1 Awamu inayofuata",
        "confirm": "Lipa KES 1,350 kwa mkopo MK00001", "full": "Lipa KES 5,400 kwa mkopo",
        "prompt": "Utapokea ombi la M-Pesa", "cancelled": "Malipo yameghairiwa",
        "statement": "Taarifa fupi", "kind": "Malipo", "account": "1 Badilisha PIN",
        "pin_changed": "PIN yako imebadilishwa", "language": "Chagua lugha yako",
        "reminders": "Vikumbusho vya SMS sasa: Kabla na", "saved": "limehifadhiwa",
        "help": "Paybill 600100, akaunti MK00001", "ticket": "1 Toa lalamiko",
        "describe": "Eleza tatizo kwa ufupi", "ticket_done": "Ombi lako T0001 limepokelewa",
        "back": "0 Rudi 00 Mwanzo", "other": "Weka kiasi kati ya KES 1 na KES 5,400",
        "more": "98 Zaidi",
    },
}


@pytest.fixture(params=["en", "sw"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def borrower(services, lang):
    return services.add_member(PHONE, language=lang)


@pytest.fixture
def w(lang: str) -> dict[str, str]:
    return WORDS[lang]


def test_registration_in_english_leaves_the_member_pending(ussd, services) -> None:
    ussd.dial()
    ussd.expect("Welcome to Mkopo", "1 Register", "3 Soma kwa Kiswahili", end=False)
    ussd.reply("1")
    ussd.expect("Enter your full name")
    ussd.reply("Amina Wanjiru")
    ussd.expect("Enter your national ID number")
    ussd.reply("23456789")
    ussd.expect("Choose a 4-digit PIN")
    ussd.reply("2580")
    ussd.expect("Enter the same PIN again")
    ussd.reply("2580")
    ussd.expect("Choose your language", "1 English", "2 Kiswahili")
    ussd.reply("1")
    ussd.expect("shares them only with your lender", "1 I agree", "2 I do not agree")
    ussd.reply("1")
    ussd.expect("Thank you Amina", end=True)
    member = services.members[PHONE]
    assert (member.view.status, member.view.language, member.pin, member.national_id) == (
        PENDING, "en", "2580", "23456789")
    assert member.consent is True


def test_registration_in_kiswahili_from_the_welcome_switch(ussd, services) -> None:
    ussd.dial("3")
    ussd.expect("Karibu Mkopo", "1 Jisajili", "3 Read in English")
    ussd.reply("1")
    ussd.expect("Andika jina lako kamili")
    ussd.reply("Baraka Otieno")
    ussd.expect("Andika namba ya kitambulisho chako")
    ussd.reply("12345678")
    ussd.expect("Chagua PIN ya tarakimu 4")
    ussd.reply("2580")
    ussd.expect("Weka PIN hiyo hiyo tena")
    ussd.reply("2580")
    ussd.expect("Chagua lugha yako")
    ussd.reply("2")
    ussd.expect("Tunahifadhi jina", "1 Nakubali", "2 Sikubali")
    ussd.reply("1")
    ussd.expect("Asante Baraka", "tutakutumia SMS", end=True)
    assert services.members[PHONE].view.language == "sw"


def test_registration_language_choice_switches_the_next_screens(ussd, services) -> None:
    ussd.dial("1", "Amina Wanjiru", "23456789", "2580", "2580", "2")
    ussd.expect("Tunahifadhi jina", "1 Nakubali")
    ussd.reply("2")
    ussd.expect("Bila idhini yako hatuwezi kukusajili", end=True)
    assert PHONE not in services.members


@pytest.mark.parametrize(("answers", "reason"), [
    (["1", "A"], "Please enter your name in letters."),
    (["1", "Amina", "12ab"], "Enter your ID number in digits only."),
    (["1", "Amina", "1234567", "1111"], "not all the same and not in a row"),
    (["1", "Amina", "1234567", "2580", "2581"], "The PINs do not match."),
])
def test_registration_reprompts_with_a_short_reason(ussd, answers, reason) -> None:
    ussd.dial(*answers)
    ussd.expect(reason, end=False)


def test_a_pending_member_sees_a_reduced_menu(ussd, services) -> None:
    services.add_member(PHONE, status=PENDING, loan=False)
    ussd.dial()
    ussd.expect("we are still verifying your registration", "1 Help", "3 Change language")
    ussd.reply("3")
    ussd.reply("2")
    ussd.expect("Lugha imebadilishwa", end=True)


def test_an_inactive_member_is_told_whom_to_call(ussd, services) -> None:
    services.add_member(PHONE, status="suspended")
    ussd.dial()
    ussd.expect("not active", "0800 720 000", end=True)


def test_home_menu_greets_by_first_name(ussd, borrower, w) -> None:
    ussd.dial()
    ussd.expect("Amina", w["home"], "7 ", end=False)


def test_my_balance_needs_the_pin_then_shows_loan_limit_and_due(ussd, borrower, w) -> None:
    ussd.dial("1")
    ussd.expect(w["pin"])
    ussd.reply(PIN)
    ussd.expect("MK00001", w["outstanding"], w["due"], w["limit"], w["back"], end=False)


def test_a_late_borrower_sees_what_is_overdue_and_since_when(ussd, borrower, w) -> None:
    borrower.loan_status = "in_arrears"
    ussd.dial("1")
    ussd.reply(PIN)
    ussd.expect(w["overdue"], w["outstanding"], end=False)
    assert w["due"] not in ussd.screen


def test_apply_discloses_cost_then_signs_with_pin(ussd, services, borrower, w) -> None:
    ussd.dial("2")
    ussd.expect(w["products"])
    ussd.reply("1")
    ussd.expect(w["amount"])
    ussd.reply("5,000")
    ussd.expect(w["terms"])
    ussd.reply("1")
    ussd.expect(w["purpose"])
    ussd.reply("1")
    ussd.expect(w["disclosure"], w["cost"], w["apr"], end=False)
    ussd.reply("1")
    ussd.expect(w["pin"])
    ussd.reply(PIN)
    ussd.expect(w["applied"], end=True)
    [application] = services.applications
    assert (application["product"], application["amount"], application["term"],
            application["purpose"]) == ("BIZ", 500_000, 4, "business")


def test_declining_the_offer_requests_nothing(ussd, services, borrower, w) -> None:
    ussd.dial("2", "1", "5000", "1", "1", "2")
    ussd.expect(w["declined"], end=True)
    assert services.applications == []


def test_apply_refused_by_the_domain_ends_with_the_reason(ussd, services, borrower) -> None:
    services.refuse["products"] = "loan_active"
    ussd.dial("2")
    ussd.expect("You already have a loan" if borrower.view.language == "en" else "Tayari una",
                end=True)


def test_apply_amount_outside_the_range_reprompts(ussd, borrower, w) -> None:
    ussd.dial("2", "1", "50")
    ussd.expect(w["amount"], end=False)
    assert ussd.screen.splitlines()[0] != ussd.screen.splitlines()[1]


@pytest.mark.parametrize(("choice", "key"), [("1", "confirm"), ("2", "full")])
def test_repay_asks_pin_confirms_and_requests_a_prompt(ussd, services, borrower, w, choice,
                                                        key) -> None:
    ussd.dial("3")
    ussd.expect(w["repay"])
    ussd.reply(choice)
    ussd.expect(w["pin"])
    ussd.reply(PIN)
    ussd.expect(w[key])
    ussd.reply("1")
    ussd.expect(w["prompt"], end=True)
    [repayment] = services.repayments
    assert repayment["amount"] == (135_000 if choice == "1" else 540_000)


def test_repay_other_amount(ussd, services, borrower, w) -> None:
    ussd.dial("3", "3")
    ussd.expect(w["pin"])
    ussd.reply(PIN)
    ussd.expect(w["other"])
    ussd.reply("700")
    ussd.reply("1")
    ussd.expect(w["prompt"], "KES 700", end=True)
    assert services.repayments[0]["amount"] == 70_000


def test_repay_cancel_charges_nothing(ussd, services, borrower, w) -> None:
    ussd.dial("3", "1", PIN, "2")
    ussd.expect(w["cancelled"], end=True)
    assert services.repayments == []


def test_repay_without_a_loan_says_so_at_once(ussd, services) -> None:
    services.add_member(PHONE, loan=False)
    ussd.dial("3")
    ussd.expect("You have no loan to repay.", end=True)


def test_mini_statement_lists_the_last_five(ussd, services, borrower, w) -> None:
    ussd.dial("4", PIN)
    ussd.expect(w["statement"], w["kind"], "QK0T7XY2B", end=False)
    pages = [ussd.screen]
    while w["more"] in ussd.screen:
        pages.append(ussd.reply("98"))
    text = "\n".join(pages)
    assert text.count("QK") == 4 and "MK00001" in text
    assert services.calls.count("statement") == 1  # pages come from the session, not the db


def test_change_pin(ussd, services, borrower, w) -> None:
    ussd.dial("5", PIN)
    ussd.expect(w["account"])
    ussd.reply("1")
    ussd.reply(PIN)
    ussd.reply("2468")
    ussd.reply("2468")
    ussd.expect(w["pin_changed"], end=True)
    assert borrower.pin == "2468"


def test_change_pin_with_a_wrong_current_pin_changes_nothing(ussd, borrower) -> None:
    ussd.dial("5", PIN, "1", "9999", "2468", "2468")
    ussd.expect(end=True)
    assert borrower.pin == PIN


def test_change_language_answers_in_the_new_language(ussd, services, borrower, w) -> None:
    other = "sw" if borrower.view.language == "en" else "en"
    ussd.dial("5", PIN, "2")
    ussd.expect(w["language"])
    ussd.reply("2" if other == "sw" else "1")
    ussd.expect("Lugha imebadilishwa" if other == "sw" else "Language changed", end=True)
    assert borrower.view.language == other
    ussd.dial()
    ussd.expect(WORDS[other]["home"])


def test_sms_reminder_preferences(ussd, services, borrower, w) -> None:
    ussd.dial("5", PIN, "3")
    ussd.expect(w["reminders"], "3 ")
    ussd.reply("3")
    ussd.expect(w["saved"], end=True)
    assert borrower.view.reminders == "off"


def test_help_shows_paybill_account_and_support(ussd, borrower, w) -> None:
    ussd.dial("6")
    ussd.expect(w["help"], "0800 720 000", end=False)


def test_help_for_a_stranger(ussd) -> None:
    ussd.dial("2")
    ussd.expect("Help: call 0800 720 000", end=False)


@pytest.mark.parametrize(("choice", "kind"), [("1", "complaint"), ("2", "hardship")])
def test_complaint_or_hardship_opens_a_ticket(ussd, services, borrower, w, choice,
                                              kind) -> None:
    ussd.dial("7")
    ussd.expect(w["ticket"])
    ussd.reply(choice)
    ussd.expect(w["describe"])
    ussd.reply("Biashara*imeharibika, nahitaji muda")
    ussd.expect(w["ticket_done"], end=True)
    assert services.tickets == [{"member_id": borrower.view.id, "kind": kind,
                                 "text": "Biashara*imeharibika, nahitaji muda",
                                 "reference": "T0001"}]


def test_back_and_home_navigation(ussd, borrower, w) -> None:
    ussd.dial("2", "1")
    ussd.expect(w["amount"])
    ussd.reply("0")
    ussd.expect(w["products"])
    ussd.reply("0")
    ussd.expect(w["home"])
    ussd.reply("2")
    ussd.reply("1")
    ussd.reply("00")
    ussd.expect(w["home"], end=False)
    assert w["back"] not in ussd.screen


def test_the_pin_is_asked_once_per_session(ussd, services, borrower) -> None:
    ussd.dial("1", PIN, "00", "4")
    ussd.expect("QK0T7XY2B")
    assert services.calls.count("verify_pin") == 1


def test_three_invalid_answers_end_politely(ussd, borrower) -> None:
    ussd.dial("99", "x", "")
    ussd.expect("Too many invalid attempts" if borrower.view.language == "en"
                else "Umekosea mara nyingi", "*384*123#", end=True)


def test_shortcut_dialling_answers_several_screens_at_once(ussd, services, borrower,
                                                          w) -> None:
    ussd.dial()
    ussd.session_id += "x"
    response = ussd.post(f"1*{PIN}")
    assert response.get_data(as_text=True).startswith("CON ")
    assert w["outstanding"] in response.get_data(as_text=True)
