"""Money tips ride on reminders: at most one a week per phone, never costing a segment."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core.clock import utcnow
from core.money import Money
from messaging.models import SmsMessage
from messaging.ports import DueInstallment
from messaging.reminders import add_tips, run_reminders
from messaging.templates import TIP_TEMPLATES, render, segments

TODAY = date(2026, 3, 2)


def due(n: int, when: date, phone: str, language: str = "en") -> DueInstallment:
    return DueInstallment(n, 100 + n, phone, language, Money(150_000), when, f"ML-{n}",
                          (-3, 0, 1, 7))


def messages(session, phone: str) -> list[SmsMessage]:
    return list(session.scalars(select(SmsMessage).where(SmsMessage.to_phone == phone)
                                .order_by(SmsMessage.id)))


def test_a_reminder_carries_a_tip_within_its_segment(session, lending, clock) -> None:
    lending.installments = [due(1, TODAY, "+254711000201")]
    run_reminders()
    [sms] = messages(session, "+254711000201")
    assert sms.tip in TIP_TEMPLATES
    assert sms.body.endswith(render(sms.tip, "en")) and sms.body.startswith("Reminder:")
    assert sms.segments == segments(sms.body) == 1


def test_one_tip_a_week_per_phone(session, lending, clock) -> None:
    phone = "+254711000202"
    lending.installments = [due(1, TODAY, phone), due(2, TODAY + timedelta(days=3), phone)]
    run_reminders()  # two reminders today: only one tip
    assert [m.tip is not None for m in messages(session, phone)] == [True, False]
    clock.advance(days=1)
    lending.installments = [due(3, TODAY + timedelta(days=1), phone)]
    run_reminders()
    assert messages(session, phone)[-1].tip is None  # a day later: still the same week
    clock.advance(days=7)
    lending.installments = [due(4, TODAY + timedelta(days=8), phone)]
    run_reminders()
    assert messages(session, phone)[-1].tip is not None


def test_swahili_reminders_get_swahili_tips(session, lending, clock) -> None:
    lending.installments = [due(1, TODAY, "+254711000203", "sw")]
    run_reminders()
    [sms] = messages(session, "+254711000203")
    assert sms.tip is None or "Dokezo:" in sms.body
    assert sms.segments == 1


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lengths=st.lists(st.integers(min_value=20, max_value=300), min_size=1, max_size=6),
       language=st.sampled_from(["en", "sw"]))
def test_a_tip_never_adds_a_segment(session, clock, lengths: list[int], language: str) -> None:
    """Whatever the reminders' lengths, each keeps its segment count, one tip per phone."""
    rows = [{"to_phone": f"+2547110003{n:02d}", "body": "x" * length, "language": language,
             "status": "queued", "segments": segments("x" * length), "tip": None}
            for n, length in enumerate(lengths)]
    before = [row["segments"] for row in rows]
    add_tips(session, rows, utcnow())
    assert [segments(row["body"]) for row in rows] == before
    for row in rows:
        assert (row["tip"] is None) == (row["body"] == "x" * len(row["body"]))
