"""Matching rules and break types, each on the smallest day that shows it."""

from __future__ import annotations

from datetime import timedelta

import ledger
from ledger import MOBILE_MONEY_FLOAT, SUSPENSE, credit, debit
from payments.models import CallbackInbox, ReconciliationBreak

from support.recon_world import T0, World, row


def types(world: World) -> list[str]:
    return sorted(b.type for b in world.breaks())


def test_the_same_receipt_and_amount_match(world: World) -> None:
    world.intent(50_000, receipt="TKS9Q8W7E6")
    world.statement(row("TKS9Q8W7E6", 50_000, reference="L1042"))
    summary = world.run()
    assert world.matches() == [("TKS9Q8W7E6", "receipt")]
    assert summary.matched["receipt"] == 1 and world.breaks() == []


def test_the_same_receipt_with_another_amount_is_an_amount_mismatch(world: World) -> None:
    world.intent(45_000, receipt="TKS8A1B2C3")
    world.statement(row("TKS8A1B2C3", 50_000, reference="L1042"))
    world.run()
    [found] = world.breaks()
    assert found.type == "amount_mismatch" and found.receipt == "TKS8A1B2C3"
    assert found.details["difference"] == 5_000 and found.amount == 50_000


def test_reference_and_amount_match_when_the_receipts_differ(world: World) -> None:
    world.intent(50_000, receipt="OURS000001", reference="l1042", phone="+254799999999")
    world.statement(row("TKS0000001", 50_000, reference="L1042", at=T0 + timedelta(hours=2)))
    world.run()
    assert world.matches() == [("TKS0000001", "reference")]
    assert world.breaks() == []


def test_references_pair_one_to_one_by_closest_time(world: World) -> None:
    world.intent(50_000, receipt="OURS000001", at=T0, phone="+254799999999")
    world.intent(50_000, receipt="OURS000002", at=T0 + timedelta(days=1), phone="+254799999999")
    world.statement(row("TKSA000002", 50_000, reference="L1042", at=T0 + timedelta(days=1)),
                    row("TKSA000001", 50_000, reference="L1042", at=T0 + timedelta(minutes=1)))
    world.run(now=T0 + timedelta(days=2))
    assert sorted(world.matches()) == [("TKSA000001", "reference"), ("TKSA000002", "reference")]
    assert world.breaks() == []


def test_phone_amount_and_time_window_match(world: World) -> None:
    world.intent(120_000, receipt="OURS000003", reference="")
    world.statement(row("TKS7M6N5B4", 120_000, at=T0 + timedelta(minutes=5)))
    world.run(time_window_seconds=600)
    assert world.matches() == [("TKS7M6N5B4", "phone_time")]


def test_outside_the_time_window_nothing_matches_and_both_sides_break(world: World) -> None:
    world.intent(120_000, receipt="OURS000004", reference="", at=T0)
    world.statement(row("TKSEARLY01", 1_000, at=T0 - timedelta(hours=1)),
                    row("TKS7M6N5B5", 120_000, at=T0 + timedelta(hours=2)))
    world.run(time_window_seconds=600)
    assert ("TKS7M6N5B5", "phone_time") not in world.matches()
    assert types(world) == ["ledger_without_statement", "statement_without_ledger",
                            "statement_without_ledger"]  # the early line matches nothing either


def test_a_configured_tolerance_absorbs_small_differences(world: World) -> None:
    world.intent(50_000, receipt="OURS000005", phone="+254799999999")
    world.statement(row("TKS0000005", 50_050, reference="L1042"))
    world.run(amount_tolerance=100)
    assert world.matches() == [("TKS0000005", "reference")]
    world_breaks = world.breaks()
    assert world_breaks == []


def test_without_tolerance_the_same_difference_breaks(world: World) -> None:
    world.intent(50_000, receipt="OURS000006", phone="+254799999999")
    world.statement(row("TKS0000006", 50_050, reference="L1042"),
                    row("TKSLATE006", 1_000, reference="X", at=T0 + timedelta(hours=1)))
    world.run()
    assert world.matches() == []
    assert types(world) == ["ledger_without_statement", "statement_without_ledger",
                            "statement_without_ledger"]


def test_one_statement_line_can_cover_several_intents(world: World) -> None:
    world.intent(50_000, receipt="OURS000007", phone="+254799999999")
    world.intent(45_000, receipt="OURS000008", phone="+254799999999",
                 at=T0 + timedelta(minutes=30))
    world.statement(row("TKS0000009", 95_000, reference="L1042", at=T0 + timedelta(hours=1)))
    world.run()
    assert world.matches() == [("TKS0000009", "one_to_many"), ("TKS0000009", "one_to_many")]
    assert world.breaks() == []


def test_several_statement_lines_can_pay_one_intent(world: World) -> None:
    world.intent(95_000, receipt="OURS000010", phone="+254799999999")
    world.statement(row("TKS0000011", 50_000, reference="L1042"),
                    row("TKS0000012", 45_000, reference="L1042", at=T0 + timedelta(minutes=2)))
    world.run()
    assert sorted(world.matches()) == [("TKS0000011", "many_to_one"),
                                       ("TKS0000012", "many_to_one")]
    assert world.breaks() == []


def test_payouts_match_withdrawals(world: World) -> None:
    world.intent(500_000, receipt="TKT1Z2X3C4", kind="disbursement", reference="L1042")
    world.statement(row("TKT1Z2X3C4", -500_000))
    world.run()
    assert world.matches() == [("TKT1Z2X3C4", "receipt")]


def test_a_statement_line_we_never_booked_is_a_break(world: World) -> None:
    world.statement(row("TKS7M6N5B4", 120_000, reference="WRONGREF", phone="25472****555"))
    world.run()
    [found] = world.breaks()
    assert found.type == "statement_without_ledger" and found.amount == 120_000
    assert found.phone == "25472****555" and found.details["account_reference"] == "WRONGREF"
    assert found.details["direction"] == "in"


def test_our_movement_missing_from_the_statement_is_a_break_inside_its_period(
        world: World) -> None:
    inside = world.intent(30_000, receipt="OURS000013", at=T0 + timedelta(hours=1))
    world.intent(30_000, receipt="OURS000014", at=T0 + timedelta(days=3))  # after the period
    world.statement(row("TKS0000015", 1_000, reference="X1", at=T0),
                    row("TKS0000016", 2_000, reference="X2", at=T0 + timedelta(hours=5)))
    world.run()
    [found] = world.breaks("ledger_without_statement")
    assert found.intent_id == inside.id and found.amount == 30_000


def test_a_receipt_booked_twice_on_our_side_is_a_duplicate(world: World, session) -> None:
    for key in ("c2b:1", "c2b:2"):
        ledger.post(session, key, "suspense", [debit(MOBILE_MONEY_FLOAT, 20_000),
                                              credit(SUSPENSE, 20_000)],
                    meta={"receipt": "TKSDUP0001"}, occurred_at=T0)
    world.statement(row("TKSDUP0001", 20_000))
    world.run()
    assert world.matches() == [("TKSDUP0001", "receipt")]
    [found] = world.breaks()
    assert found.type == "duplicate" and found.receipt == "TKSDUP0001"
    assert found.details["copies"] == 2


def test_ledger_entries_with_a_receipt_are_our_side_too(world: World, session) -> None:
    ledger.post(session, "c2b:TKS0000017", "suspense",
                [debit(MOBILE_MONEY_FLOAT, 20_000), credit(SUSPENSE, 20_000)],
                meta={"receipt": "TKS0000017"}, occurred_at=T0)
    world.statement(row("TKS0000017", 20_000, reference="NOSUCHLOAN"))
    world.run()
    assert world.matches() == [("TKS0000017", "receipt")] and world.breaks() == []


def test_a_request_without_any_callback_past_its_deadline_is_a_break(world: World) -> None:
    waiting = world.intent(10_000, status="requested", checkout="ws_CO_1", receipt=None)
    world.intent(10_000, status="requested", checkout="ws_CO_2", receipt=None,
                 at=T0 + timedelta(days=1))  # not due yet
    world.run(now=T0 + timedelta(hours=2))
    [found] = world.breaks()
    assert found.type == "intent_without_callback" and found.intent_id == waiting.id


def test_an_intent_still_pending_long_after_its_callback_is_stale(world: World,
                                                                   session) -> None:
    stuck = world.intent(10_000, status="requested", checkout="ws_CO_3", receipt=None)
    session.add(CallbackInbox(provider="mpesa", kind="stk", external_id="ws_CO_3", raw="{}",
                              received_at=T0 + timedelta(minutes=1), status="failed",
                              attempts=3))
    world.run(now=T0 + timedelta(days=2))
    [found] = world.breaks()
    assert found.type == "stale_pending" and found.intent_id == stuck.id


def test_a_callback_for_no_intent_is_a_break_after_the_grace_period(world: World,
                                                                    session) -> None:
    orphan = CallbackInbox(provider="mpesa", kind="stk", external_id="ws_CO_nobody", raw="{}",
                           received_at=T0, status="received", attempts=0)
    session.add(orphan)
    session.flush()
    world.run(now=T0 + timedelta(minutes=5))
    assert world.breaks() == []
    world.run(now=T0 + timedelta(hours=1))
    [found] = world.breaks()
    assert found.type == "callback_without_intent" and found.inbox_id == orphan.id


def test_running_twice_changes_nothing(world: World) -> None:
    world.intent(50_000, receipt="TKS9Q8W7E6")
    world.intent(1_000, receipt="OURS000018", at=T0 + timedelta(minutes=10))
    world.statement(row("TKS9Q8W7E6", 50_000), row("TKS7M6N5B4", 120_000, reference="WRONGREF"),
                    row("TKS0000019", 100, at=T0 + timedelta(hours=3)))
    world.run()
    first = (world.matches(), [(b.type, b.dedupe_key) for b in world.breaks()])
    again = world.run()
    assert (world.matches(), [(b.type, b.dedupe_key) for b in world.breaks()]) == first
    assert sum(again.matched.values()) == 0 and sum(again.breaks.values()) == 0


def test_a_break_is_closed_when_a_later_run_matches_its_line(world: World) -> None:
    world.statement(row("TKSLATE001", 70_000, reference="L2000"))
    world.run()
    [found] = world.breaks()
    assert found.status == "open"
    world.intent(70_000, receipt="TKSLATE001", reference="L2000")  # the callback came late
    summary = world.run()
    world.session.refresh(found)
    assert summary.closed == 1 and found.status == "resolved"
    assert found.resolved_by == "reconciliation"


def test_breaks_are_deduplicated_against_existing_keys(world: World, session) -> None:
    world.statement(row("TKS7M6N5B4", 120_000, reference="WRONGREF"))
    session.add(ReconciliationBreak(
        type="statement_without_ledger", status="open",
        dedupe_key="statement_without_ledger:line:TKS7M6N5B4", currency="KES", details={},
        created_at=T0))
    session.flush()
    summary = world.run()
    assert summary.breaks["statement_without_ledger"] == 0 and len(world.breaks()) == 1
