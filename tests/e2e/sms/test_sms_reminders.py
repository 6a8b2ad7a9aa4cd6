"""Repayment reminders: the right stage on the right day, never at night, each only once."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.money import Money
from core.outbox import OutboxItem
from messaging.models import SmsMessage
from messaging.optouts import STOP_KEYWORD, opt_out
from messaging.ports import DueInstallment, set_member_lookup
from messaging.reminders import (
    cancel_reminders,
    dates_to_scan,
    plan_reminders,
    reminder_day,
    run_reminders,
)

TODAY = date(2026, 3, 2)  # the clock fixture: Monday 09:00 in Nairobi


def installment(n: int, due: date, phone: str = "+254711000101", language: str = "en",
                offsets: tuple[int, ...] = (-3, 0, 1, 7)) -> DueInstallment:
    return DueInstallment(n, 100 + n, phone, language, Money(150_000), due, f"ML-{n}", offsets)


def sms_rows(session) -> list[tuple[str, str, str]]:
    rows = session.execute(select(SmsMessage.idempotency_key, SmsMessage.template,
                                  SmsMessage.status).order_by(SmsMessage.idempotency_key))
    return [tuple(row) for row in rows]


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_each_stage_gets_its_own_wording(session, worker, lending, sender, clock) -> None:
    lending.installments = [
        installment(1, TODAY + timedelta(days=3)), installment(2, TODAY),
        installment(3, TODAY - timedelta(days=1)), installment(4, TODAY - timedelta(days=7)),
        installment(5, TODAY + timedelta(days=2)),  # no stage falls on today
    ]
    plan = run_reminders()
    assert plan is not None
    assert (plan.day, plan.not_before, plan.queued, plan.released) == (TODAY, None, 4, 4)
    assert lending.asked_dates == [dates_to_scan(TODAY)]
    worker.run()
    assert sms_rows(session) == [
        ("reminder:1:d-3", "reminder_upcoming", "sent"),
        ("reminder:2:d+0", "reminder_due_today", "sent"),
        ("reminder:3:d+1", "reminder_late", "sent"),
        ("reminder:4:d+7", "reminder_late_help", "sent"),
    ]
    assert [body for _, body in sender.sent][1] == (
        "Reminder: KES 1,500 for loan ML-2 is due today. Pay via Paybill 600000, account ML-2. "
        "Thank you.")


def test_running_twice_sends_each_reminder_once(session, worker, lending, sender,
                                                clock) -> None:
    lending.installments = [installment(1, TODAY), installment(2, TODAY, language="sw")]
    first = run_reminders()
    worker.run()
    clock.advance(minutes=30)
    second = run_reminders()
    worker.run()
    assert first is not None and second is not None
    assert (first.queued, second.queued, second.already_planned) == (2, 0, 2)
    assert (count(session, SmsMessage), count(session, OutboxItem), len(sender.sent)) == (2, 2, 2)
    assert sender.sent[1][1].startswith("Kumbusho: KES 1,500 za mkopo ML-2 zinatakiwa leo.")


def test_evening_runs_plan_tomorrow_and_wait_for_morning(session, worker, lending, sender,
                                                         clock) -> None:
    clock.set(datetime(2026, 3, 2, 18, 0, tzinfo=UTC))  # 21:00 in Nairobi
    tomorrow = TODAY + timedelta(days=1)
    lending.installments = [installment(1, tomorrow), installment(2, TODAY)]
    plan = run_reminders()
    assert plan is not None
    assert (plan.day, plan.not_before) == (tomorrow, datetime(2026, 3, 3, 5, 0, tzinfo=UTC))
    assert (plan.queued, plan.released) == (2, 0)
    worker.run()
    assert sender.sent == []
    clock.set(datetime(2026, 3, 3, 5, 0, tzinfo=UTC))  # 08:00 in Nairobi
    morning = run_reminders()
    worker.run()
    assert morning is not None and (morning.queued, morning.released) == (0, 2)
    assert sms_rows(session) == [("reminder:1:d+0", "reminder_due_today", "sent"),
                                 ("reminder:2:d+1", "reminder_late", "sent")]
    assert len(sender.sent) == 2


@pytest.mark.parametrize(("local_time", "day", "not_before"), [
    ((3, 0), TODAY, datetime(2026, 3, 2, 5, 0, tzinfo=UTC)),
    ((7, 59), TODAY, datetime(2026, 3, 2, 5, 0, tzinfo=UTC)),
    ((8, 0), TODAY, None),
    ((19, 59), TODAY, None),
    ((20, 0), TODAY + timedelta(days=1), datetime(2026, 3, 3, 5, 0, tzinfo=UTC)),
    ((23, 30), TODAY + timedelta(days=1), datetime(2026, 3, 3, 5, 0, tzinfo=UTC)),
])
def test_quiet_hours_defer_to_eight_in_the_morning(local_time, day, not_before) -> None:
    hour, minute = local_time
    now = datetime(2026, 3, 2, hour, minute, tzinfo=UTC) - timedelta(hours=3)
    if hour < 3:
        now += timedelta(days=1)
    assert reminder_day(now, "Africa/Nairobi") == (day, not_before)


def test_night_reminders_are_kept_not_dropped(session, worker, lending, sender, clock) -> None:
    clock.set(datetime(2026, 3, 2, 0, 0, tzinfo=UTC))  # 03:00 in Nairobi
    lending.installments = [installment(1, TODAY)]
    plan = run_reminders()
    worker.run()
    assert plan is not None and (plan.queued, plan.released, sender.sent) == (1, 0, [])
    [item] = session.scalars(select(OutboxItem)).all()
    assert item.next_attempt_at == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    clock.set(datetime(2026, 3, 2, 5, 30, tzinfo=UTC))
    run_reminders()
    worker.run()
    assert len(sender.sent) == 1


def test_a_reminder_paid_before_morning_is_not_sent(session, worker, lending, sender,
                                                    clock) -> None:
    clock.set(datetime(2026, 3, 2, 0, 0, tzinfo=UTC))  # 03:00 in Nairobi
    lending.installments = [installment(1, TODAY), installment(12, TODAY)]
    run_reminders()
    assert cancel_reminders(session, 1) == 1
    session.commit()
    clock.set(datetime(2026, 3, 2, 5, 0, tzinfo=UTC))
    run_reminders()
    worker.run()
    assert sms_rows(session) == [("reminder:12:d+0", "reminder_due_today", "sent"),
                                 ("reminder:1:d+0", "reminder_due_today", "suppressed")]
    assert [phone for phone, _ in sender.sent] == ["+254711000101"]


def test_a_products_own_offsets_are_followed(session, lending, clock) -> None:
    lending.installments = [installment(1, TODAY, offsets=(-1, 3)),
                            installment(2, TODAY + timedelta(days=1), offsets=(-1, 3))]
    plan = run_reminders()
    assert plan is not None and plan.queued == 1
    assert sms_rows(session) == [("reminder:2:d-1", "reminder_upcoming", "queued")]


def test_opted_out_borrowers_get_no_reminder(session, lending, clock) -> None:
    opt_out(session, "+254711000102", STOP_KEYWORD)
    lending.installments = [installment(1, TODAY, phone="+254711000102"),
                            installment(2, TODAY)]
    plan = plan_reminders(session, clock.now(), lending.installments)
    assert (plan.queued, plan.suppressed) == (1, 1)
    assert sms_rows(session) == [("reminder:1:d+0", "reminder_due_today", "suppressed"),
                                 ("reminder:2:d+0", "reminder_due_today", "queued")]
    assert count(session, OutboxItem) == 1


def test_batches_cover_every_installment(session, lending, clock, monkeypatch) -> None:
    monkeypatch.setattr("messaging.reminders.BATCH", 7)
    due = [installment(n, TODAY, phone=f"+2547110{n:05d}") for n in range(1, 31)]
    plan = plan_reminders(session, clock.now(), iter(due))
    again = plan_reminders(session, clock.now(), iter(due))
    assert (plan.queued, again.queued, again.already_planned) == (30, 0, 30)
    assert (count(session, SmsMessage), count(session, OutboxItem)) == (30, 30)


def test_without_a_lending_adapter_nothing_happens(session) -> None:
    previous = set_member_lookup(None)
    try:
        assert run_reminders() is None
    finally:
        set_member_lookup(previous)


def test_the_command_reports_what_it_did(runner, session, lending, clock) -> None:
    lending.installments = [installment(1, TODAY), installment(2, TODAY - timedelta(days=1))]
    first = runner.invoke(args=["send-reminders"])
    second = runner.invoke(args=["send-reminders"])
    assert first.exit_code == 0, first.output
    assert first.output == ("reminders for 2026-03-02 (sending now): 2 queued, 0 suppressed "
                            "(opted out), 0 already planned, 2 released for sending\n")
    assert second.output.startswith("reminders for 2026-03-02 (sending now): 0 queued, ")


@pytest.mark.postgres
def test_concurrent_runs_queue_each_reminder_once(committed_db, lending, clock) -> None:
    lending.installments = [installment(n, TODAY, phone=f"+2547110{n:05d}")
                            for n in range(1, 501)]
    barrier, errors = threading.Barrier(2), []

    def run() -> None:
        try:
            barrier.wait()
            with committed_db.transaction() as session:
                plan_reminders(session, clock.now(), lending.installments)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with committed_db.transaction() as session:
        assert (count(session, SmsMessage), count(session, OutboxItem)) == (500, 500)
