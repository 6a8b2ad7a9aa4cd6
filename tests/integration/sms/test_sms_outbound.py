"""Queueing SMS in the caller's transaction and sending them from the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import outbox
from core.money import Money
from core.outbox import OutboxItem
from messaging.models import SmsMessage
from messaging.optouts import AT_OPT_OUT, opt_out
from messaging.outbound import NotAMember, inbox, notify_member, prepare, queue_many, queue_sms
from messaging.senders import SendResult

PHONE = "+254711000101"
AMOUNT = {"amount": Money(50_000)}


def outbox_items(session, key: str) -> list[OutboxItem]:
    return list(session.scalars(select(OutboxItem).where(OutboxItem.key == f"sms:{key}")))


def test_queueing_records_the_message_and_its_outbox_item_once(session, clock) -> None:
    first = queue_sms(session, "0711 000 101", "repay_requested", "en", AMOUNT, key="k-1")
    again = queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="k-1")
    assert first is not None and again is first
    assert (first.to_phone, first.status, first.category, first.segments) == (
        PHONE, "queued", "transactional", 1)
    assert first.body == ("An M-Pesa request for KES 500 is on its way. Enter your M-Pesa PIN "
                          "to pay. You will get a receipt by SMS.")
    [item] = outbox_items(session, "k-1")
    assert (item.kind, item.queue, item.payload) == ("sms.send", "sms", {"key": "k-1"})


def test_a_committed_message_is_sent_and_its_cost_recorded(session, worker, sender,
                                                          clock) -> None:
    message = queue_sms(session, PHONE, "repay_requested", "sw", AMOUNT, key="k-2")
    session.commit()
    assert worker.run() == 1
    session.refresh(message)
    assert (message.status, message.provider_message_id, message.cost, message.cost_minor) == (
        "sent", "ATXid_0001", "KES 0.8000", 80)
    assert message.sent_at == clock.now()
    assert sender.sent == [(PHONE, message.body)]
    assert message.body.startswith("Ombi la M-Pesa la KES 500 ")


def test_a_rolled_back_message_is_never_sent(session, worker, sender) -> None:
    queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="k-3")
    session.rollback()
    assert worker.run() == 0
    assert sender.sent == []


def test_opted_out_phones_get_nothing_but_legal_notices(session, worker, sender) -> None:
    opt_out(session, PHONE, AT_OPT_OUT)
    receipt = queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="k-4")
    notice = queue_sms(session, PHONE, "stop_confirmation", "en", {}, key="k-5",
                       category="legal")
    session.commit()
    worker.run()
    assert receipt is not None and receipt.status == "suppressed"
    assert outbox_items(session, "k-4") == []
    assert notice is not None
    session.refresh(notice)
    assert notice.status == "sent"
    assert sender.sent == [(PHONE, notice.body)]


def test_an_opt_out_after_queueing_suppresses_the_send(session, worker, sender, clock) -> None:
    reminder = queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="k-6",
                         category="reminder", not_before=clock.now() + timedelta(hours=1))
    opt_out(session, PHONE, "stop_keyword")
    session.commit()
    clock.advance(hours=2)
    assert outbox.sweep() == 1
    worker.run()
    session.refresh(reminder)
    assert reminder.status == "suppressed"
    assert sender.sent == []


def test_a_permanent_refusal_fails_the_message_without_retry(session, worker, sender) -> None:
    sender.script.append(SendResult("failed", None, None, "InvalidPhoneNumber", permanent=True))
    message = queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="k-7")
    session.commit()
    worker.run()
    session.refresh(message)
    [item] = outbox_items(session, "k-7")
    assert (message.status, message.failure_reason, message.sent_at) == (
        "failed", "InvalidPhoneNumber", None)
    assert (item.status, item.attempts) == ("done", 1)


def test_a_transient_failure_is_retried_later(session, worker, sender, clock) -> None:
    sender.fail_next()
    message = queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="k-8")
    session.commit()
    worker.run()
    session.refresh(message)
    [item] = outbox_items(session, "k-8")
    assert (message.status, item.status, item.attempts, item.last_error) == (
        "queued", "pending", 1, "africastalking: GatewayError")
    clock.advance(minutes=5)
    assert outbox.sweep() == 1
    worker.run()
    session.refresh(message)
    assert (message.status, message.provider_message_id) == ("sent", "ATXid_0001")


def test_the_last_transient_failure_fails_the_message(session, worker, sender, clock) -> None:
    message = queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="k-9")
    [item] = outbox_items(session, "k-9")
    item.attempts = outbox.MAX_ATTEMPTS - 1
    session.commit()
    sender.fail_next("africastalking: CouldNotRoute")
    worker.run()
    session.refresh(message)
    assert (message.status, message.failure_reason) == ("failed", "africastalking: CouldNotRoute")


def test_an_unreachable_number_is_not_queued(session) -> None:
    assert queue_sms(session, "12", "help_reply", "en", {}, key="k-10") is None
    assert session.scalar(select(func.count()).select_from(SmsMessage)) == 0


def test_an_unknown_category_is_refused(session) -> None:
    with pytest.raises(ValueError, match="unknown SMS category 'spam'"):
        queue_sms(session, PHONE, "help_reply", "en", {}, key="k-11", category="spam")


def test_the_inbox_shows_what_reached_the_phone_newest_first(session, worker, sender,
                                                             clock) -> None:
    first = queue_sms(session, PHONE, "help_reply", "en", {}, key="k-12")
    clock.advance(minutes=1)
    second = queue_sms(session, PHONE, "repay_usage", "en", {}, key="k-13")
    queue_sms(session, "+254711000999", "help_reply", "en", {}, key="k-14")
    session.commit()
    worker.run()
    assert inbox(session, PHONE) == [second, first]
    assert inbox(session, PHONE, limit=1) == [second]


def test_member_notices_take_the_members_language(session, lending) -> None:
    lending.add_member(PHONE, "Amina", language="sw")
    message = notify_member(session, PHONE, "repay_requested", key="k-15", **AMOUNT)
    assert message is not None and message.language == "sw"


def test_member_notices_go_to_members_only(session, lending) -> None:
    with pytest.raises(NotAMember, match=r"\+254\*\*\*\*\*\*101 is no member's phone"):
        notify_member(session, PHONE, "repay_requested", key="k-16", **AMOUNT)
    assert session.scalar(select(func.count()).select_from(SmsMessage)) == 0


def test_replies_are_not_member_notices(session, lending) -> None:
    lending.add_member(PHONE, "Amina")
    with pytest.raises(ValueError, match="help_reply is a reply"):
        notify_member(session, PHONE, "help_reply", key="k-17")


def test_a_batch_is_queued_like_single_messages(session, worker, sender, clock) -> None:
    """queue_many: opt-outs suppressed (legal notices still go), each key once, sent after."""
    other = "+254711000102"
    opt_out(session, other, AT_OPT_OUT)
    batch = [prepare(PHONE, "repay_requested", "en", AMOUNT, key="b-1"),
             prepare(other, "repay_requested", "sw", AMOUNT, key="b-2"),
             prepare(other, "repay_requested", "en", AMOUNT, key="b-3", category="legal"),
             prepare("not a phone", "repay_requested", "en", AMOUNT, key="b-4")]
    assert batch[3] is None
    assert queue_many(session, batch) == 2
    assert queue_many(session, batch) == 0  # the same keys again: nothing new
    rows = {m.idempotency_key: (m.to_phone, m.status, m.language) for m in session.scalars(
        select(SmsMessage).where(SmsMessage.idempotency_key.like("b-%")))}
    assert rows == {"b-1": (PHONE, "queued", "en"), "b-2": (other, "suppressed", "sw"),
                    "b-3": (other, "queued", "en")}
    assert [len(outbox_items(session, k)) for k in ("b-1", "b-2", "b-3")] == [1, 0, 1]
    session.commit()
    worker.run()
    assert sorted(phone for phone, _ in sender.sent) == sorted([PHONE, other])


def sms_drains_waiting() -> int:
    from core.jobs import get_queue

    return sum(job.func_name == "core.outbox.dispatch_due" for job in get_queue("sms").jobs)


def test_a_burst_of_messages_is_sent_by_one_drain_job(session, worker, sender, clock) -> None:
    for n in range(5):
        queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key=f"burst-{n}")
    session.commit()
    queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="burst-5")
    session.commit()  # a second transaction while the first drain still waits: no second job
    assert sms_drains_waiting() == 1
    worker.run()
    assert len(sender.sent) == 6
    statuses = session.scalars(select(SmsMessage.status).where(
        SmsMessage.idempotency_key.like("burst-%"))).all()
    assert statuses == ["sent"] * 6


def test_a_send_that_crashes_is_put_off_and_the_others_go(session, worker, sender,
                                                        clock) -> None:
    for n in range(3):
        queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key=f"crash-{n}")
    session.commit()
    sender.script = [SendResult("sent", "ATXid_A", "KES 0.8000"), RuntimeError("sender bug")]
    worker.run()
    assert len(sender.sent) == 2
    session.expire_all()
    items = session.scalars(select(OutboxItem).where(OutboxItem.key.like("sms:crash-%"))).all()
    [put_off] = [item for item in items if item.status == "pending"]
    assert put_off.attempts == 1 and "sender bug" in (put_off.last_error or "")
    assert put_off.next_attempt_at > clock.now()
    # its time comes: the sweeper sends it, once
    clock.advance(seconds=120)
    assert outbox.sweep() == 1
    worker.run()
    assert len(sender.sent) == 3
    assert session.scalar(select(func.count(SmsMessage.id)).where(
        SmsMessage.idempotency_key.like("crash-%"), SmsMessage.status == "sent")) == 3


def test_a_drain_sends_a_batch_in_one_transaction_and_each_message_once(
        session, worker, sender, clock, monkeypatch) -> None:
    monkeypatch.setattr(outbox, "DRAIN_BATCH", 4)  # 10 messages: batches of 4, 4 and 2
    for n in range(10):
        queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key=f"batch-{n}")
    session.commit()
    batches: list[int] = []
    real = outbox.BATCH_HANDLERS["sms.send"]

    def counting(session_, items):  # type: ignore[no-untyped-def]
        batches.append(len(items))
        return real(session_, items)

    monkeypatch.setitem(outbox.BATCH_HANDLERS, "sms.send", counting)
    worker.run()
    assert sum(batches) == 10 and max(batches) <= 4
    assert len(sender.sent) == 10
    session.expire_all()
    assert session.scalars(select(SmsMessage.status).where(
        SmsMessage.idempotency_key.like("batch-%"))).all() == ["sent"] * 10
    assert {(i.status, i.attempts) for i in session.scalars(select(OutboxItem).where(
        OutboxItem.key.like("sms:batch-%")))} == {("done", 1)}


def test_a_batch_that_fails_as_a_whole_is_sent_one_by_one(session, worker, sender,
                                                         monkeypatch) -> None:
    for n in range(3):
        queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key=f"whole-{n}")
    session.commit()

    def broken(session_, items):  # type: ignore[no-untyped-def]
        raise RuntimeError("the batch's own query failed")

    monkeypatch.setitem(outbox.BATCH_HANDLERS, "sms.send", broken)
    worker.run()
    assert len(sender.sent) == 3  # each once, by the one-by-one path
    session.expire_all()
    assert session.scalars(select(SmsMessage.status).where(
        SmsMessage.idempotency_key.like("whole-%"))).all() == ["sent"] * 3


def test_an_item_without_a_batch_handler_that_crashes_is_put_off_alone(
        session, worker, sender, clock, monkeypatch) -> None:
    def crashing(session_, item):  # type: ignore[no-untyped-def]
        queue_sms(session_, PHONE, "repay_requested", "en", AMOUNT, key="written-by-a-crash")
        raise RuntimeError("handler bug")

    monkeypatch.setitem(outbox.HANDLERS, "test.crashing", crashing)
    queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="beside-0")
    outbox.add(session, "test.crashing", "crashing-1", {}, queue="sms")
    queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="beside-1")
    session.commit()
    worker.run()
    assert len(sender.sent) == 2  # the batch's messages went, once each
    session.expire_all()
    crashed = session.scalars(select(OutboxItem).where(OutboxItem.key == "crashing-1")).one()
    assert (crashed.status, crashed.attempts) == ("pending", 1)
    assert "handler bug" in (crashed.last_error or "") and crashed.next_attempt_at > clock.now()
    assert outbox_items(session, "written-by-a-crash") == []  # its savepoint rolled back
    assert session.scalar(select(func.count(SmsMessage.id)).where(
        SmsMessage.idempotency_key == "written-by-a-crash")) == 0


def test_a_batch_out_of_time_leaves_the_rest_for_the_next_batch(
        session, worker, sender, monkeypatch) -> None:
    from messaging import outbound

    monkeypatch.setattr(outbound, "BATCH_SECONDS", 0.0)  # a slow provider: one send a batch
    for n in range(3):
        queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key=f"slow-{n}")
    session.commit()
    batches: list[int] = []
    real = outbox.BATCH_HANDLERS["sms.send"]

    def counting(session_, items):  # type: ignore[no-untyped-def]
        batches.append(len(items))
        return real(session_, items)

    monkeypatch.setitem(outbox.BATCH_HANDLERS, "sms.send", counting)
    worker.run()
    assert batches == [3, 2, 1]  # each batch sent one and left the others due
    assert len(sender.sent) == 3
    session.expire_all()
    assert {(i.status, i.attempts) for i in session.scalars(select(OutboxItem).where(
        OutboxItem.key.like("sms:slow-%")))} == {("done", 1)}


def test_messages_a_batch_had_no_time_for_are_not_stepped_over(
        session, worker, sender, monkeypatch) -> None:
    from messaging import outbound

    monkeypatch.setattr(outbound, "BATCH_SECONDS", 0.0)  # one send a batch
    handled: list[str] = []
    monkeypatch.setitem(outbox.HANDLERS, "test.other",
                        lambda session_, item: handled.append(item.key))
    queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="order-a")
    queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="order-b")
    outbox.add(session, "test.other", "order-x", {}, queue="sms")  # done in the first batch
    queue_sms(session, PHONE, "repay_requested", "en", AMOUNT, key="order-c")
    session.commit()
    worker.run()
    assert handled == ["order-x"]
    assert len(sender.sent) == 3  # b, claimed before x but not tried, came in a later batch
    session.expire_all()
    assert session.scalars(select(SmsMessage.status).where(
        SmsMessage.idempotency_key.like("order-%"))).all() == ["sent"] * 3
