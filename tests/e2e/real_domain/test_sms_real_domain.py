"""SMS commands against the real lending domain, through the real /sms/inbound endpoint."""

import uuid

from sqlalchemy import select
from test_ussd_real_domain import PIN, active_loan

from lending.members import register_member
from lending.sms_port import LendingMemberLookup
from messaging import ports
from messaging.models import SmsMessage
from payments.models import PaymentIntent


def text_in(client, worker, phone: str, text: str) -> None:
    response = client.post("/sms/inbound", data={
        "from": phone, "to": "21525", "text": text, "date": "2026-03-02 09:00:00",
        "id": str(uuid.uuid4()), "linkId": "", "networkCode": "63902"})
    assert response.status_code == 200
    worker.run()


def replies(session, phone: str) -> list[str]:
    return list(session.scalars(select(SmsMessage.body).where(SmsMessage.to_phone == phone)
                                .order_by(SmsMessage.id)))


def borrower_with_loan(session, verify):
    borrower = register_member(session, phone="+254722000111", first_name="Amina",
                               national_id="12345678", pin=PIN, language="en", consent=True)
    verify(borrower.id)
    return borrower, active_loan(session, borrower.id)


def test_bal_gives_the_real_balance(client, session, worker, product, verify, clock) -> None:
    assert isinstance(ports.member_lookup(), LendingMemberLookup)
    borrower, loan = borrower_with_loan(session, verify)
    text_in(client, worker, borrower.phone, "BAL")
    reply = replies(session, borrower.phone)[-1]
    assert f"loan {loan.reference}: balance KES 1,527.69" in reply
    assert "Next KES 381.92 due" in reply


def test_lipa_starts_one_whole_shilling_prompt(client, session, worker, product, verify,
                                               clock) -> None:
    borrower, loan = borrower_with_loan(session, verify)
    text_in(client, worker, borrower.phone, "LIPA 500")
    intents = session.scalars(select(PaymentIntent)).all()
    assert [(i.kind, i.amount, i.loan_id) for i in intents] == [("repayment", 50_000, loan.id)]


def test_repay_without_a_loan_says_so(client, session, worker, product, verify, clock) -> None:
    member = register_member(session, phone="+254722000333", first_name="Juma",
                             national_id="999", pin=PIN, language="sw", consent=True)
    verify(member.id)
    text_in(client, worker, member.phone, "LIPA 500")
    assert session.scalar(select(PaymentIntent)) is None
    last = session.scalars(select(SmsMessage).where(SmsMessage.to_phone == member.phone)
                           .order_by(SmsMessage.id.desc())).first()
    assert (last.template, last.language) == ("repay_no_loan", "sw")
