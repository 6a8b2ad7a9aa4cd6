"""SMS commands: the keyword table in both languages, replies, STOP/START, the rate limit."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import select

from core.money import Money
from core.outbox import OutboxItem
from messaging.inbound import InboundForm, process_inbound, store_inbound
from messaging.keywords import Command, parse_command
from messaging.models import InboundSms, SmsMessage
from messaging.optouts import is_opted_out
from messaging.outbound import queue_sms
from messaging.ports import set_member_lookup

PHONE = "+254711000101"


@pytest.mark.parametrize(("text", "command"), [
    ("BAL", Command("balance", "en")),
    (" bal. ", Command("balance", "en")),
    ("Balance please", Command("balance", "en")),
    ("SALIO", Command("balance", "sw")),
    ("salio!", Command("balance", "sw")),
    ("REPAY 500", Command("repay", "en", 50_000)),
    ("repay500", Command("repay", "en", 50_000)),
    ("Pay KES 1,250.50", Command("repay", "en", 125_050)),
    ("LIPA 500", Command("repay", "sw", 50_000)),
    ("lipa: 2,000/=", Command("repay", "sw", 200_000)),
    ("Lipa Ksh 300", Command("repay", "sw", 30_000)),
    ("LIPA", Command("repay", "sw", None)),
    ("REPAY five hundred", Command("repay", "en", None)),
    ("REPAY 0", Command("repay", "en", None)),
    ("STOP", Command("stop", "en")),
    ("Stop all", Command("stop", "en")),
    ("ACHA", Command("stop", "sw")),
    ("acha.", Command("stop", "sw")),
    ("START", Command("start", "en")),
    ("anza", Command("start", "sw")),
    ("HELP", Command("help", "en")),
    ("?help?", Command("help", "en")),
    ("MSAADA", Command("help", "sw")),
    ("Habari yako", Command("unknown")),
    ("STOPP", Command("unknown")),
    ("", Command("unknown")),
    ("12345", Command("unknown")),
])
def test_keywords_are_read_forgivingly(text: str, command: Command) -> None:
    assert parse_command(text) == command


def receive(session, text: str, phone: str = PHONE) -> InboundSms:
    form = InboundForm(str(uuid.uuid4()), phone, "40123", text, None, "63902", None)
    sms = store_inbound(session, form)
    assert sms is not None
    session.commit()
    return sms


def replies(session) -> list[tuple[str, str]]:
    rows = session.execute(select(SmsMessage.body, SmsMessage.status).order_by(SmsMessage.id))
    return [tuple(row) for row in rows]


def test_stop_opts_out_and_is_confirmed_even_so(session, worker, lending, sender) -> None:
    sms = receive(session, "STOP")
    worker.run()
    session.refresh(sms)
    assert (sms.outcome, is_opted_out(session, PHONE)) == ("stop", True)
    assert replies(session) == [(
        "You will no longer get Mkopo reminders or updates. Send START to get them again. "
        "Legal notices about your loan will still be sent.", "sent")]


def test_acha_then_anza_answer_in_swahili(session, worker, lending, sender) -> None:
    receive(session, "acha")
    worker.run()
    receive(session, "ANZA")
    worker.run()
    assert is_opted_out(session, PHONE) is False
    assert [body for body, _ in replies(session)] == [
        "Hutapokea tena vikumbusho wala taarifa za Mkopo. Tuma ANZA kuzipata tena. Taarifa za "
        "kisheria kuhusu mkopo wako zitaendelea kutumwa.",
        "Karibu tena. Utapokea ujumbe wa Mkopo tena. Tuma ACHA wakati wowote kuusitisha.",
    ]


def test_after_stop_ordinary_messages_are_suppressed(session, worker, lending, sender) -> None:
    receive(session, "STOP")
    worker.run()
    message = queue_sms(session, PHONE, "repay_usage", "en", {}, key="after-stop")
    assert message is not None and message.status == "suppressed"


def test_balance_of_a_borrower_with_a_loan(session, worker, lending, sender) -> None:
    member = lending.add_member(PHONE, "Amina", language="sw")
    lending.balances[member.id] = {"loan_reference": "ML-1042", "balance": Money(450_000),
                                   "next_amount": Money(150_000), "next_date": date(2026, 3, 9)}
    receive(session, "BAL")
    worker.run()
    assert sender.sent == [(PHONE, "Amina, mkopo ML-1042: salio KES 4,500. Malipo yajayo "
                                   "KES 1,500 tarehe 09/03/2026. Paybill 600000, akaunti ML-1042.")]


def test_an_unregistered_number_gets_the_registration_hint(session, worker, lending,
                                                           sender) -> None:
    receive(session, "SALIO")
    receive(session, "hello", phone="+254711000102")
    worker.run()
    assert [body for _, body in sender.sent] == [
        "Namba hii haijasajiliwa na Mkopo. Piga *384*123# kujisajili, au mtembelee mshirika "
        "wetu aliye karibu nawe.",
        "This number is not registered with Mkopo. Dial *384*123# to register, or visit a "
        "field partner near you.",
    ]


def test_repay_asks_lending_for_a_payment_once(session, worker, lending, sender) -> None:
    member = lending.add_member(PHONE, "Amina")
    sms = receive(session, "REPAY 500")
    worker.run()
    session.expire_all()
    assert process_inbound(session, sms.id) == "skipped"
    assert lending.repayments == [(member.id, 50_000, f"sms-repay:{sms.provider_id}")]
    assert [body for _, body in sender.sent] == [
        "An M-Pesa request for KES 500 is on its way. Enter your M-Pesa PIN to pay. You will "
        "get a receipt by SMS."]


@pytest.mark.parametrize(("refusal", "text", "reply"), [
    ("no_active_loan", "LIPA 500",
     "Huna mkopo wa kulipa. Tuma SALIO kuangalia, au piga *384*123#."),
    ("amount_too_large", "LIPA 500",
     "Hatukuweza kuanzisha malipo hayo. Tafadhali jaribu tena baadaye au piga 0800 720 000."),
    (None, "LIPA",
     "Kulipa, tuma LIPA na kiasi, mfano LIPA 500. Au tumia Paybill 600000 na namba ya mkopo "
     "wako kama akaunti."),
])
def test_repay_explains_why_nothing_happened(session, worker, lending, sender, refusal, text,
                                             reply) -> None:
    lending.add_member(PHONE, "Amina", language="sw")
    lending.refuse_with = refusal
    receive(session, text)
    worker.run()
    assert lending.repayments == []
    assert [body for _, body in sender.sent] == [reply]


def test_a_member_who_is_not_understood_gets_help(session, worker, lending, sender) -> None:
    lending.add_member(PHONE, "Amina")
    receive(session, "what is this")
    worker.run()
    assert [body for _, body in sender.sent] == [
        "Sorry, we did not understand that. Send BAL, REPAY 500, STOP or HELP, or dial "
        "*384*123#."]


def test_the_sixth_command_in_ten_minutes_gets_no_reply(session, worker, lending, sender,
                                                        clock) -> None:
    lending.add_member(PHONE, "Amina")
    inbound = []
    for _ in range(6):
        inbound.append(receive(session, "HELP"))
        clock.advance(seconds=30)
    worker.run()
    for sms in inbound:
        session.refresh(sms)
    assert [sms.outcome for sms in inbound] == ["help"] * 5 + ["rate_limited"]
    assert len(sender.sent) == 5
    clock.advance(minutes=10)
    receive(session, "HELP")
    worker.run()
    assert len(sender.sent) == 6


def test_stop_is_honoured_over_the_rate_limit(session, worker, lending, sender, clock) -> None:
    for _ in range(5):
        receive(session, "HELP")
    stop = receive(session, "STOP")
    worker.run()
    session.refresh(stop)
    assert (stop.outcome, is_opted_out(session, PHONE)) == ("rate_limited", True)
    # The five HELP answers were still waiting to be sent when STOP arrived: none goes out.
    assert [status for _, status in replies(session)] == ["suppressed"] * 5
    assert sender.sent == []


def test_stop_works_before_lending_is_wired_and_balance_waits(session, worker, sender) -> None:
    previous = set_member_lookup(None)
    try:
        stop, balance = receive(session, "STOP"), receive(session, "BAL")
        worker.run()
    finally:
        set_member_lookup(previous)
    session.refresh(stop)
    session.refresh(balance)
    assert (stop.outcome, balance.processed_at) == ("stop", None)
    item = session.scalar(select(OutboxItem).where(OutboxItem.key == f"sms-inbound:{balance.id}"))
    assert item is not None
    assert (item.status, item.last_error) == ("pending", "lending port not configured yet")


def test_an_unreadable_sender_is_stored_but_not_answered(session, worker, lending,
                                                         sender) -> None:
    sms = receive(session, "BAL", phone="MPESA")
    worker.run()
    session.refresh(sms)
    assert (sms.outcome, sender.sent) == ("bad_sender", [])
