"""Resolving breaks: the ledger stays sound, the audit log says who, why, before and after."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

import ledger
from core.outbox import OutboxItem
from gateway.ops_models import AuditEntry, audit
from payments.breaks import record_break
from payments.models import PaymentIntent
from payments.settlement import park_in_suspense
from reconciliation.resolutions import (
    RECONCILIATION_LOSSES,
    UNCLAIMED_INCOME,
    Actor,
    ResolutionError,
    approve,
    reject,
    resolve,
)

from support.recon_world import T0, Loans, World, row

ALICE = Actor("operator:1", "alice@mkopo.test")
BOB = Actor("operator:2", "bob@mkopo.test")


def unbooked(world: World, amount: int = 50_000, receipt: str = "TKS7M6N5B4"):
    """A paid-in statement line we never booked, as a break."""
    world.statement(row(receipt, amount, reference="WRONGREF"))
    world.run()
    [item] = world.breaks("statement_without_ledger")
    return item


def audit_trail(session, break_id: int) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(
        AuditEntry.subject_type == "reconciliation_break",
        AuditEntry.subject_id == str(break_id)).order_by(AuditEntry.id)))


def test_assigning_an_unbooked_receipt_repays_the_loan_out_of_suspense(
        world: World, loans: Loans, session) -> None:
    loan = loans.active()
    item = unbooked(world, 26_000)
    float_before = ledger.balance(session, ledger.MOBILE_MONEY_FLOAT)
    outcome = resolve(session, item.id, "assign", loan_id=loan.id, actor=ALICE,
                      reason="borrower called: typo in the account", audit=audit)
    assert outcome.status == "resolved" and item.loan_id == loan.id
    assert ledger.balance(session, ledger.SUSPENSE) == 0
    assert ledger.balance(session, ledger.MOBILE_MONEY_FLOAT) == float_before + 26_000
    assert loan.installments[0].scheduled_due == 0  # KES 260 paid the first installment
    assert ledger.verify(session).ok
    [entry] = audit_trail(session, item.id)
    assert entry.action == "recon.assign" and "alice@mkopo.test" in entry.actor
    assert entry.reason == "borrower called: typo in the account"
    assert entry.before["status"] == "open" and entry.after["status"] == "resolved"
    assert entry.after["loan_id"] == loan.id


def test_an_assigned_receipt_matches_its_statement_line_on_the_next_run(
        world: World, loans: Loans, session) -> None:
    loan = loans.active()
    item = unbooked(world, 26_000)
    resolve(session, item.id, "assign", loan_id=loan.id, actor=ALICE, reason="typo",
            audit=audit)
    summary = world.run(now=T0 + timedelta(days=2))
    assert summary.matched["receipt"] == 1 and sum(summary.breaks.values()) == 0


def test_assigning_money_payments_parked_in_suspense(loans: Loans, session) -> None:
    loan = loans.active()
    park_in_suspense(session, amount=26_000, receipt="TKSC2B0001", at=T0, reason="no loan")
    item = record_break(session, "unmatched_c2b", "c2b:TKSC2B0001", amount=26_000,
                        receipt="TKSC2B0001")
    resolve(session, item.id, "assign", loan_id=loan.id, actor=ALICE, reason="found the loan",
            audit=audit)
    assert ledger.balance(session, ledger.SUSPENSE) == 0 and ledger.verify(session).ok


def test_a_refund_asks_mpesa_for_a_reversal_through_the_outbox(world: World, session) -> None:
    item = unbooked(world, 30_000)
    outcome = resolve(session, item.id, "refund", actor=ALICE, reason="not our customer",
                      audit=audit)
    assert outcome.status == "resolved"
    intent = session.scalar(select(PaymentIntent).where(PaymentIntent.kind == "reversal"))
    assert intent.original_receipt == "TKS7M6N5B4" and intent.amount == 30_000
    assert intent.idempotency_key == f"recon-refund:{item.id}"
    [order] = session.scalars(select(OutboxItem).where(OutboxItem.kind == "mpesa.reversal"))
    assert order.payload == {"intent_id": intent.id}
    assert ledger.balance(session, ledger.SUSPENSE) == 30_000  # parked until M-Pesa confirms
    assert ledger.verify(session).ok


def test_writing_off_money_in_goes_from_suspense_to_unclaimed_income(world: World,
                                                                     session) -> None:
    item = unbooked(world, 12_300)
    resolve(session, item.id, "write_off", actor=ALICE, reason="unclaimed for 90 days",
            audit=audit)
    assert ledger.balance(session, ledger.SUSPENSE) == 0
    assert ledger.balance(session, UNCLAIMED_INCOME) == 12_300
    assert ledger.verify(session).ok


def test_writing_off_money_out_books_a_loss_against_the_float(world: World, session) -> None:
    world.statement(row("TKT0000001", -40_000))
    world.run()
    [item] = world.breaks()
    resolve(session, item.id, "write_off", actor=ALICE, reason="provider charge",
            audit=audit)
    assert ledger.balance(session, RECONCILIATION_LOSSES) == 40_000
    assert ledger.balance(session, ledger.MOBILE_MONEY_FLOAT) == -40_000
    assert ledger.verify(session).ok
    assert world.run(now=T0 + timedelta(days=2)).matched["receipt"] == 1  # now it matches


def test_dismissing_needs_a_reason_and_moves_no_money(world: World, session) -> None:
    item = unbooked(world)
    with pytest.raises(ResolutionError) as refused:
        resolve(session, item.id, "dismiss", actor=ALICE, reason=" ", audit=audit)
    assert refused.value.field == "reason"
    outcome = resolve(session, item.id, "dismiss", actor=ALICE, reason="test payment",
                      audit=audit)
    assert outcome.status == "dismissed" and item.resolution.endswith("test payment")
    assert ledger.trial_balance(session).lines == []


def test_a_break_without_money_in_suspense_can_only_be_dismissed(world: World,
                                                                 session) -> None:
    world.intent(30_000, receipt="OURS000001", at=T0 + timedelta(minutes=5))
    world.statement(row("TKS0000001", 100, at=T0), row("TKS0000002", 100, at=T0 + timedelta(
        hours=3)))
    world.run()
    [item] = world.breaks("ledger_without_statement")
    for action in ("assign", "refund", "write_off"):
        with pytest.raises(ResolutionError) as refused:
            resolve(session, item.id, action, loan_id=1, actor=ALICE, reason="try",
                    audit=audit)
        assert refused.value.code == "action_not_allowed"


def test_an_unknown_loan_is_refused_and_nothing_moves(world: World, session) -> None:
    item = unbooked(world)
    with pytest.raises(ResolutionError) as refused:
        resolve(session, item.id, "assign", loan_id=999_999, actor=ALICE, reason="typo",
                audit=audit)
    assert refused.value.code == "unknown_loan"
    assert item.status == "open"


def test_a_closed_break_stays_closed(world: World, session) -> None:
    item = unbooked(world)
    resolve(session, item.id, "dismiss", actor=ALICE, reason="duplicate upload", audit=audit)
    with pytest.raises(ResolutionError) as refused:
        resolve(session, item.id, "dismiss", actor=BOB, reason="again", audit=audit)
    assert refused.value.code == "break_closed"


# --- maker-checker ----------------------------------------------------------------------


def test_big_money_waits_for_a_second_person(world: World, loans: Loans, session) -> None:
    loan = loans.active(amount=2_000_000)
    item = unbooked(world, 1_500_000)
    outcome = resolve(session, item.id, "assign", loan_id=loan.id, actor=ALICE,
                      reason="borrower's lump sum", audit=audit)
    assert outcome.status == "pending_approval" and item.status == "open"
    assert ledger.balance(session, ledger.SUSPENSE) == 0  # nothing moved yet
    with pytest.raises(ResolutionError) as refused:
        approve(session, outcome.pending.id, actor=ALICE, audit=audit)
    assert refused.value.code == "same_person"
    with pytest.raises(ResolutionError):
        resolve(session, item.id, "dismiss", actor=BOB, reason="meanwhile", audit=audit)
    done = approve(session, outcome.pending.id, actor=BOB, audit=audit, note="checked")
    assert done.status == "resolved" and item.loan_id == loan.id
    assert ledger.balance(session, ledger.SUSPENSE) == 0 and ledger.verify(session).ok
    actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == ["recon.request.assign", "recon.approve", "recon.assign"]
    final = audit_trail(session, item.id)[-1]
    assert "bob@mkopo.test" in final.actor and "alice" in final.after["maker"]


def test_a_refused_approval_leaves_the_break_open(world: World, session) -> None:
    item = unbooked(world, 1_000_001)
    outcome = resolve(session, item.id, "write_off", actor=ALICE, reason="nobody claimed it",
                      audit=audit)
    rejected = reject(session, outcome.pending.id, actor=BOB, audit=audit,
                      reason="call the payer first")
    assert rejected.status == "rejected" and item.status == "open"
    assert ledger.trial_balance(session).lines == []
    resolve(session, item.id, "dismiss", actor=BOB, reason="payer refunded offline",
            audit=audit)


def test_the_threshold_is_the_limit_not_above_it(world: World, session) -> None:
    item = unbooked(world, 1_000_000)
    assert resolve(session, item.id, "write_off", actor=ALICE, reason="small enough",
                   audit=audit).status == "resolved"


def test_dismissing_big_money_needs_no_second_person(world: World, session) -> None:
    item = unbooked(world, 9_000_000)
    assert resolve(session, item.id, "dismiss", actor=ALICE, reason="bank test",
                   audit=audit).status == "dismissed"
