"""The SMS callbacks over HTTP, with Africa's Talking's own payloads."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from core.money import Money
from messaging.models import InboundSms, SmsDeliveryReport, SmsMessage, SmsOptOut
from messaging.outbound import queue_sms, record_result
from messaging.senders import SendResult


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def sent_message(session, provider_id: str, phone: str = "+254711000101") -> SmsMessage:
    message = queue_sms(session, phone, "help_reply", "en", {}, key=f"sent-{provider_id}")
    assert message is not None
    record_result(session, message, SendResult("sent", provider_id, "KES 0.8000"))
    session.commit()
    return message


def test_an_inbound_sms_is_stored_and_answered_once(client, session, worker, lending, sender,
                                                    fixture_payload) -> None:
    form = fixture_payload("at_sms_inbound.json")
    lending.add_member("+254711000101", "Amina")
    lending.balances[1] = {"credit_limit": Money(1_000_000)}
    first, second = client.post("/sms/inbound", data=form), client.post("/sms/inbound", data=form)
    assert (first.status_code, second.status_code) == (200, 200)
    worker.run()
    [stored] = session.scalars(select(InboundSms)).all()
    assert (stored.provider_id, stored.from_phone, stored.text, stored.link_id,
            stored.outcome) == (form["id"], "+254711000101", "BAL", "SampleLinkId2811",
                                "balance")
    assert sender.sent == [("+254711000101", "Amina, you have no active loan. Your credit limit "
                            "is KES 10,000. Dial *384*123# to apply.")]
    assert stored.reply_message_id == session.scalar(select(SmsMessage.id))


@pytest.mark.parametrize("field", ["id", "from", "to", "text"])
def test_an_inbound_sms_without_a_field_is_refused(client, session, fixture_payload,
                                                   field: str) -> None:
    form = fixture_payload("at_sms_inbound.json")
    del form[field]
    response = client.post("/sms/inbound", data=form)
    assert response.status_code == 400
    assert count(session, InboundSms) == 0


def test_a_delivery_success_marks_the_message_delivered(client, session, clock,
                                                        fixture_payload) -> None:
    form = fixture_payload("at_sms_delivery_success.json")
    message = sent_message(session, form["id"])
    clock.advance(seconds=40)
    assert client.post("/sms/delivery-reports", data=form).status_code == 200
    session.refresh(message)
    assert (message.status, message.delivered_at, message.failure_reason) == (
        "success", clock.now(), None)


def test_a_delivery_failure_records_the_reason(client, session, fixture_payload) -> None:
    form = fixture_payload("at_sms_delivery_failed.json")
    message = sent_message(session, form["id"], phone=form["phoneNumber"])
    assert client.post("/sms/delivery-reports", data=form).status_code == 200
    session.refresh(message)
    assert (message.status, message.failure_reason, message.delivered_at) == (
        "failed", "UserInBlackList", None)


def test_a_duplicate_report_is_stored_once(client, session, fixture_payload) -> None:
    form = fixture_payload("at_sms_delivery_success.json")
    sent_message(session, form["id"])
    for _ in range(2):
        assert client.post("/sms/delivery-reports", data=form).status_code == 200
    assert count(session, SmsDeliveryReport) == 1


def test_a_late_intermediate_report_does_not_undo_delivery(client, session,
                                                           fixture_payload) -> None:
    form = fixture_payload("at_sms_delivery_success.json")
    message = sent_message(session, form["id"])
    client.post("/sms/delivery-reports", data=form)
    client.post("/sms/delivery-reports", data={**form, "status": "Submitted"})
    session.refresh(message)
    assert message.status == "success"
    assert count(session, SmsDeliveryReport) == 2


def test_a_report_for_an_unknown_message_is_kept_and_logged(client, session, caplog,
                                                            fixture_payload) -> None:
    form = fixture_payload("at_sms_delivery_success.json")
    with caplog.at_level(logging.WARNING, logger="messaging.reports"):
        assert client.post("/sms/delivery-reports", data=form).status_code == 200
    assert caplog.messages == [
        "delivery report for unknown message ATXid_3b9a0c4d1e2f (+254******101)"]
    assert "+254711000101" not in caplog.text
    [report] = session.scalars(select(SmsDeliveryReport)).all()
    assert report.matched is False


def test_a_report_that_beats_the_send_result_is_applied_when_it_lands(
        client, session, fixture_payload) -> None:
    form = fixture_payload("at_sms_delivery_success.json")
    client.post("/sms/delivery-reports", data=form)
    message = sent_message(session, form["id"])
    assert message.status == "success"
    assert session.scalar(select(SmsDeliveryReport.matched)) is True


@pytest.mark.parametrize("form", [{"status": "Success"}, {"id": "ATXid_1", "status": "Lost"},
                                  {"id": "ATXid_1"}])
def test_a_malformed_report_is_refused(client, form: dict[str, str]) -> None:
    assert client.post("/sms/delivery-reports", data=form).status_code == 400


def test_an_opt_out_callback_silences_all_but_legal_notices(client, session, worker, sender,
                                                            fixture_payload) -> None:
    form = fixture_payload("at_sms_opt_out.json")
    assert client.post("/sms/opt-out", data=form).status_code == 200
    assert client.post("/sms/opt-out", data=form).status_code == 200
    [record] = session.scalars(select(SmsOptOut)).all()
    assert (record.phone, record.source, record.active) == ("+254711000103", "at_opt_out", True)
    receipt = queue_sms(session, form["phoneNumber"], "help_reply", "en", {}, key="o-1")
    notice = queue_sms(session, form["phoneNumber"], "stop_confirmation", "en", {}, key="o-2",
                       category="legal")
    session.commit()
    worker.run()
    assert receipt is not None and receipt.status == "suppressed"
    assert notice is not None and sender.sent == [("+254711000103", notice.body)]


@pytest.mark.parametrize(("form", "status"), [({"senderId": "MKOPO"}, 400),
                                              ({"phoneNumber": "not-a-phone"}, 200)])
def test_an_opt_out_without_a_usable_number_records_nothing(client, session, form, status
                                                            ) -> None:
    assert client.post("/sms/opt-out", data=form).status_code == status
    assert count(session, SmsOptOut) == 0


def test_a_retry_count_beyond_64_bits_is_a_400_not_a_crash(client) -> None:
    response = client.post("/sms/delivery-reports", data={
        "id": "ATXid_huge", "status": "Failed", "phoneNumber": "+254711000101",
        "networkCode": "63902", "failureReason": "UserInBlacklist", "retryCount": "9" * 30})
    assert response.status_code == 400
