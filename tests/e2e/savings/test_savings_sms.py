"""AKIBA / SAVE and CHAMA by SMS, through the real /sms/inbound endpoint and the real domain."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select

from messaging.models import SmsMessage
from savings import accounts, chamas

KES = 100


def text_in(client, worker, phone: str, text: str) -> None:
    response = client.post("/sms/inbound", data={
        "from": phone, "to": "21525", "text": text, "date": "2026-03-02 09:00:00",
        "id": str(uuid.uuid4()), "linkId": "", "networkCode": "63902"})
    assert response.status_code == 200
    worker.run()


def last_reply(session, phone: str) -> SmsMessage:
    session.expire_all()
    found = session.scalars(select(SmsMessage).where(SmsMessage.to_phone == phone)
                            .order_by(SmsMessage.id.desc())).first()
    assert found is not None
    return found


def test_save_answers_the_savings_balance(client, savers, session, worker) -> None:
    saver = savers.member(first_name="Neema")
    savers.deposit(saver, 700 * KES)
    goal = accounts.open_goal(session, saver.id, name="Roof", target=5_000 * KES,
                              lock_until=None)
    savers.deposit(saver, 300 * KES, account=goal)
    text_in(client, worker, saver.phone, "save")
    reply = last_reply(session, saver.phone)
    assert reply.template == "savings_balance_reply"
    assert reply.body.startswith("Neema, your Akiba savings: KES 1,000 in all, 1 goals.")


def test_akiba_answers_in_swahili(client, savers, session, worker) -> None:
    saver = savers.member(first_name="Juma", language="sw")
    savers.deposit(saver, 200 * KES)
    text_in(client, worker, saver.phone, "AKIBA")
    reply = last_reply(session, saver.phone)
    assert (reply.template, reply.language) == ("savings_balance_reply", "sw")
    assert "akiba yako: KES 200 kwa jumla" in reply.body


def test_chama_sends_the_members_statement(client, savers, session, worker) -> None:
    people = [savers.member(first_name=n) for n in ("Amina", "Baraka")]
    chama = chamas.create_chama(session, name="Tumaini", contribution=500 * KES,
                                frequency="weekly", start_date=date(2026, 3, 2),
                                member_ids=[p.id for p in people])
    from savings import transfers

    transfers.request_contribution(session, member_id=people[1].id, chama_id=chama.id,
                                   idempotency_key="c1")
    session.commit()
    worker.run()
    text_in(client, worker, people[1].phone, "CHAMA")
    reply = last_reply(session, people[1].phone)
    assert reply.body == ("Tumaini: round 1, pot KES 500. Next payout: Amina on 09/03/2026. "
                          "You paid KES 500 this round, KES 500 in all.")


def test_chama_without_a_chama_says_how_to_join(client, savers, session, worker) -> None:
    saver = savers.member(first_name="Zawadi")
    text_in(client, worker, saver.phone, "chama")
    assert last_reply(session, saver.phone).template == "chama_none"


def test_a_stranger_asking_for_savings_is_told_to_register(client, savers, session,
                                                           worker) -> None:
    text_in(client, worker, "+254799000111", "SAVE")
    assert last_reply(session, "+254799000111").template == "unregistered_hint"
