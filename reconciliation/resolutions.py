"""Resolving reconciliation breaks, through domain services only, with four eyes on big money.

An operator resolves a break with one of four actions:

- `assign`: the money repays a loan, `lending.settlement.repay_from_suspense` (a
  repayment from suspense: Dr suspense, Cr the loan's buckets and its lenders);
- `refund`: M-Pesa is asked to give the payment back,
  `payments.intents.request_reversal` (an outbox item `mpesa.reversal`); the
  reversal result later takes the money out of suspense (payments.settlement);
- `write_off`: money in, Dr suspense / Cr `income:unclaimed-receipts`; money
  out, Dr `expense:reconciliation-losses` / Cr float;
- `dismiss`: nothing moves; the reason is kept.

A statement line we never booked (`statement_without_ledger`) is first parked
in suspense (`payments.settlement.park_in_suspense`, Dr float / Cr suspense)
so that each action starts from money the ledger knows about. Every action,
request, approval and refusal is written to the audit log through the
`Auditor` the edge passes in (the audit table belongs to the gateway).

Maker-checker: an action that moves more than `RECON_APPROVAL_THRESHOLD` minor
units (default KES 10,000) is stored as a pending action and runs only when a
different person approves it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ForeignKey, String, Text, case, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

import ledger
from core.clock import utcnow
from core.db import Base, BigId, JSONDict, MinorUnits, Timestamp, intpk
from ledger import EXPENSE, INCOME, MOBILE_MONEY_FLOAT, SUSPENSE, AccountSpec, credit, debit
from lending import settlement as loan_settlement
from lending.errors import LendingError
from lending.models import Loan
from payments.breaks import resolve_break
from payments.intents import request_reversal
from payments.models import (
    BREAK_TYPES,
    OPEN,
    STATEMENT_WITHOUT_LEDGER,
    UNAPPLIED_PAYMENT,
    UNMATCHED_C2B,
    ReconciliationBreak,
)
from payments.settlement import park_in_suspense

ASSIGN, REFUND, WRITE_OFF, DISMISS = "assign", "refund", "write_off", "dismiss"
ACTIONS = (ASSIGN, REFUND, WRITE_OFF, DISMISS)
MONEY_ACTIONS = (ASSIGN, REFUND, WRITE_OFF)
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
DEFAULT_APPROVAL_THRESHOLD = 1_000_000  # minor units: KES 10,000

UNCLAIMED_INCOME = AccountSpec("income:unclaimed-receipts", INCOME,
                               "Receipts nobody claimed, written off from suspense")
RECONCILIATION_LOSSES = AccountSpec("expense:reconciliation-losses", EXPENSE,
                                    "Money that left the float without a record")

IN_SUSPENSE = (UNMATCHED_C2B, UNAPPLIED_PAYMENT)
"""Break types whose money payments already parked in suspense."""


def allowed_actions(item: ReconciliationBreak) -> tuple[str, ...]:
    """What an operator may do with this break (money actions only where money sits)."""
    if item.status != OPEN:
        return ()
    if item.type in IN_SUSPENSE or (item.type == STATEMENT_WITHOUT_LEDGER
                                     and (item.amount or 0) > 0):
        return ACTIONS
    if item.type == STATEMENT_WITHOUT_LEDGER and (item.amount or 0) < 0:
        return (WRITE_OFF, DISMISS)
    return (DISMISS,)


def approval_threshold(environ: Mapping[str, str] | None = None) -> int:
    """Minor units above which a money-moving action needs a second person."""
    raw = (os.environ if environ is None else environ).get("RECON_APPROVAL_THRESHOLD", "")
    return int(raw) if raw.strip() else DEFAULT_APPROVAL_THRESHOLD


# --- who acts, and where it is recorded ------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """A person acting: `key` identifies them for maker-checker, `label` is for people."""

    key: str  # "operator:3", "api-key:12"
    label: str

    def __str__(self) -> str:
        return f"{self.label} [{self.key}]"


class Auditor(Protocol):
    """Writes one audit entry in the caller's transaction (`gateway.ops_models.audit`)."""

    def __call__(self, session: Any, *, actor: str, action: str, subject_type: str,
                 subject_id: object, reason: str = "", before: dict[str, Any] | None = None,
                 after: dict[str, Any] | None = None) -> object: ...


class ResolutionError(Exception):
    """A resolution refused: `code` is stable, `message` is for people."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


NOT_FOUND_CODES = ("unknown_break", "unknown_action", "unknown_loan")


# --- pending actions -------------------------------------------------------------------------


class PendingAction(Base):
    """A money-moving resolution waiting for a second person (maker-checker)."""

    __tablename__ = "recon_actions"

    id: Mapped[intpk]
    break_id: Mapped[int] = mapped_column(BigId, ForeignKey("reconciliation_breaks.id"),
                                          index=True)
    action: Mapped[str] = mapped_column(String(16))
    amount: Mapped[MinorUnits]
    params: Mapped[JSONDict] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=PENDING, index=True)
    maker: Mapped[str] = mapped_column(String(200))
    maker_key: Mapped[str] = mapped_column(String(80))
    checker: Mapped[str | None] = mapped_column(String(200))
    checker_key: Mapped[str | None] = mapped_column(String(80))
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Timestamp]
    decided_at: Mapped[datetime | None]


@dataclass(frozen=True)
class Outcome:
    """What a resolve or approve call did: done now, or waiting for approval."""

    status: str  # "resolved" | "dismissed" | "pending_approval"
    item: ReconciliationBreak
    pending: PendingAction | None = None
    detail: str = ""


# --- resolving -------------------------------------------------------------------------------


def resolve(
    session: Session, break_id: int, action: str, *, actor: Actor, reason: str,
    audit: Auditor, loan_id: int | None = None, threshold: int | None = None,
) -> Outcome:
    """Resolve a break now, or park the action for a second person when it is big money."""
    reason = _checked_reason(reason)
    item = _open_break(session, break_id)
    if action not in allowed_actions(item):
        raise ResolutionError("action_not_allowed", f"a {item.type} break cannot be "
                              f"resolved by {action}", "action")
    if action == ASSIGN and loan_id is None:
        raise ResolutionError("loan_required", "say which loan the money repays", "loan_id")
    if _waiting(session, item.id) is not None:
        raise ResolutionError("approval_pending", "an action on this break awaits approval")
    amount = abs(item.amount or 0)
    limit = approval_threshold() if threshold is None else threshold
    if action in MONEY_ACTIONS and amount > limit:
        return _request_approval(session, item, action, amount, loan_id, actor, reason, audit)
    return _carry_out(session, item, action, loan_id, actor, reason, audit)


def approve(session: Session, action_id: int, *, actor: Actor, audit: Auditor,
            note: str = "") -> Outcome:
    """A second person approves a pending action, which then runs."""
    pending = _pending(session, action_id)
    _check_checker(pending, actor)
    item = _open_break(session, pending.break_id)
    before = _action_state(pending)
    pending.status, pending.checker, pending.checker_key = APPROVED, str(actor)[:200], actor.key
    pending.decided_at, pending.decision_note = utcnow(), note[:1000]
    audit(session, actor=str(actor), action="recon.approve", subject_type="recon_action",
          subject_id=pending.id, reason=note, before=before, after=_action_state(pending))
    loan_id = pending.params.get("loan_id")
    # `maker` was stored as str(Actor), "label [key]": take the label back out.
    maker = Actor(pending.maker_key, pending.maker.removesuffix(f" [{pending.maker_key}]"))
    return _carry_out(session, item, pending.action, loan_id, maker, pending.reason, audit,
                      approved_by=actor)


def reject(session: Session, action_id: int, *, actor: Actor, audit: Auditor,
           reason: str) -> PendingAction:
    """A second person refuses a pending action; the break stays open."""
    reason = _checked_reason(reason)
    pending = _pending(session, action_id)
    _check_checker(pending, actor)
    before = _action_state(pending)
    pending.status, pending.checker, pending.checker_key = REJECTED, str(actor)[:200], actor.key
    pending.decided_at, pending.decision_note = utcnow(), reason
    audit(session, actor=str(actor), action="recon.reject", subject_type="recon_action",
          subject_id=pending.id, reason=reason, before=before, after=_action_state(pending))
    return pending


def _checked_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if len(text) < 3:
        raise ResolutionError("reason_required", "say why (at least a few words)", "reason")
    return text[:1000]


def _open_break(session: Session, break_id: int) -> ReconciliationBreak:
    # SQLAlchemy leaves FOR UPDATE out on SQLite, whose writers take turns anyway
    query = select(ReconciliationBreak).where(ReconciliationBreak.id == break_id)
    item = session.scalar(query.with_for_update().execution_options(populate_existing=True))
    if item is None:
        raise ResolutionError("unknown_break", f"no reconciliation break {break_id}")
    if item.status != OPEN:
        raise ResolutionError("break_closed", f"break {break_id} is already {item.status}")
    return item


def _pending(session: Session, action_id: int) -> PendingAction:
    query = select(PendingAction).where(PendingAction.id == action_id)
    pending = session.scalar(query.with_for_update().execution_options(populate_existing=True))
    if pending is None:
        raise ResolutionError("unknown_action", f"no pending action {action_id}")
    if pending.status != PENDING:
        raise ResolutionError("already_decided", f"action {action_id} is {pending.status}")
    return pending


def _check_checker(pending: PendingAction, actor: Actor) -> None:
    if actor.key == pending.maker_key:
        raise ResolutionError("same_person", "a different person must approve this action")


def _waiting(session: Session, break_id: int) -> PendingAction | None:
    return session.scalar(select(PendingAction).where(
        PendingAction.break_id == break_id, PendingAction.status == PENDING))


def _request_approval(session: Session, item: ReconciliationBreak, action: str, amount: int,
                      loan_id: int | None, actor: Actor, reason: str,
                      audit: Auditor) -> Outcome:
    pending = PendingAction(
        break_id=item.id, action=action, amount=amount,
        params={"loan_id": loan_id} if loan_id is not None else {}, reason=reason,
        status=PENDING, maker=str(actor)[:200], maker_key=actor.key, created_at=utcnow(),
    )
    session.add(pending)
    session.flush()
    audit(session, actor=str(actor), action=f"recon.request.{action}",
          subject_type="reconciliation_break", subject_id=item.id, reason=reason,
          before=break_state(item), after={"pending_action": pending.id, "amount": amount,
                                           **pending.params})
    return Outcome("pending_approval", item, pending,
                   f"{action} of {amount} waits for a second person")


def _carry_out(session: Session, item: ReconciliationBreak, action: str, loan_id: int | None,
               actor: Actor, reason: str, audit: Auditor,
               approved_by: Actor | None = None) -> Outcome:
    before = break_state(item)
    with session.begin_nested():  # a refused action leaves nothing half done
        detail = HANDLERS[action](session, item, loan_id, actor, reason)
    note = f"{action}: {detail}; {reason}"
    if approved_by is not None:
        note += f" (approved by {approved_by})"
    resolve_break(session, item.id, actor=str(actor)[:80], resolution=note[:2000],
                  dismiss=action == DISMISS)
    audit(session, actor=str(approved_by or actor), action=f"recon.{action}",
          subject_type="reconciliation_break", subject_id=item.id, reason=reason,
          before=before, after={**break_state(item), "detail": detail,
                                "maker": str(actor)})
    return Outcome(item.status, item, None, detail)


# --- the four actions ------------------------------------------------------------------------


def _receipt(item: ReconciliationBreak) -> str:
    return item.receipt or f"break-{item.id}"


def _park_if_unbooked(session: Session, item: ReconciliationBreak) -> None:
    """Bring a statement line we never booked onto the ledger: Dr float / Cr suspense."""
    if item.type != STATEMENT_WITHOUT_LEDGER or (item.amount or 0) <= 0:
        return
    park_in_suspense(session, amount=item.amount or 0, receipt=_receipt(item), at=None,
                     currency=item.currency, reason=f"reconciliation break {item.id}")


def _assign(session: Session, item: ReconciliationBreak, loan_id: int | None, actor: Actor,
            reason: str) -> str:
    assert loan_id is not None
    _park_if_unbooked(session, item)
    try:
        result = loan_settlement.repay_from_suspense(
            session, loan_id=loan_id, amount=abs(item.amount or 0),
            key=f"recon-assign:{_receipt(item)}", receipt=item.receipt)
    except LendingError as exc:
        code = exc.code if exc.code in NOT_FOUND_CODES else f"loan_refused_{exc.code}"
        raise ResolutionError(code, exc.message, "loan_id") from None
    item.loan_id = loan_id
    loan = session.get(Loan, loan_id)
    return f"repayment {result.repayment.id} on loan {loan.reference if loan else loan_id}"


def _refund(session: Session, item: ReconciliationBreak, loan_id: int | None, actor: Actor,
            reason: str) -> str:
    _park_if_unbooked(session, item)
    intent = request_reversal(
        session, receipt=_receipt(item), amount=abs(item.amount or 0), reason=reason,
        actor=str(actor)[:80], idempotency_key=f"recon-refund:{item.id}")
    return f"reversal requested (intent {intent.id})"


def _write_off(session: Session, item: ReconciliationBreak, loan_id: int | None, actor: Actor,
               reason: str) -> str:
    amount, receipt = abs(item.amount or 0), None
    if (item.amount or 0) > 0:
        _park_if_unbooked(session, item)
        legs = [debit(SUSPENSE, amount), credit(UNCLAIMED_INCOME, amount)]
    else:
        # This entry is the float movement the statement shows: it carries the receipt
        # so that the next reconciliation run pairs the two.
        legs = [debit(RECONCILIATION_LOSSES, amount), credit(MOBILE_MONEY_FLOAT, amount)]
        receipt = item.receipt
    entry = ledger.post(session, f"recon-write-off:{item.id}", "recon_write_off", legs,
                        currency=item.currency, description=f"Write-off of break {item.id}",
                        meta={"receipt": receipt, "break_id": item.id, "reason": reason[:200]})
    return f"written off (entry {entry.id})"


def _dismiss(session: Session, item: ReconciliationBreak, loan_id: int | None, actor: Actor,
             reason: str) -> str:
    return "dismissed"


HANDLERS = {ASSIGN: _assign, REFUND: _refund, WRITE_OFF: _write_off, DISMISS: _dismiss}


# --- state for the audit log -----------------------------------------------------------------


def break_state(item: ReconciliationBreak) -> dict[str, Any]:
    """The fields of a break an auditor wants before and after an action."""
    return {"status": item.status, "type": item.type, "amount": item.amount,
            "receipt": item.receipt, "loan_id": item.loan_id, "resolution": item.resolution,
            "resolved_by": item.resolved_by}


def _action_state(pending: PendingAction) -> dict[str, Any]:
    return {"status": pending.status, "action": pending.action, "amount": pending.amount,
            "break_id": pending.break_id, "maker": pending.maker, "checker": pending.checker}


# --- the queue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakFilter:
    status: str | None = OPEN
    type: str | None = None
    older_than_days: int | None = None


def list_breaks(session: Session, flt: BreakFilter, *, limit: int = 50,
                offset: int = 0) -> tuple[list[ReconciliationBreak], int]:
    """Breaks matching the filter, oldest first, and how many match in all."""
    conditions = []
    if flt.status:
        conditions.append(ReconciliationBreak.status == flt.status)
    if flt.type:
        conditions.append(ReconciliationBreak.type == flt.type)
    if flt.older_than_days:
        cutoff = utcnow() - timedelta(days=flt.older_than_days)
        conditions.append(ReconciliationBreak.created_at <= cutoff)
    total = session.scalar(select(func.count()).select_from(ReconciliationBreak)
                           .where(*conditions)) or 0
    items = session.scalars(select(ReconciliationBreak).where(*conditions)
                            .order_by(ReconciliationBreak.id).limit(limit).offset(offset))
    return list(items), total


def get_break(session: Session, break_id: int) -> ReconciliationBreak:
    item = session.get(ReconciliationBreak, break_id)
    if item is None:
        raise ResolutionError("unknown_break", f"no reconciliation break {break_id}")
    return item


def pending_actions(session: Session, break_id: int | None = None) -> list[PendingAction]:
    """Actions waiting for a second person, oldest first."""
    query = select(PendingAction).where(PendingAction.status == PENDING)
    if break_id is not None:
        query = query.where(PendingAction.break_id == break_id)
    return list(session.scalars(query.order_by(PendingAction.id)))


def actions_for(session: Session, break_id: int) -> list[PendingAction]:
    """Every maker-checker action ever requested on a break."""
    return list(session.scalars(select(PendingAction).where(PendingAction.break_id == break_id)
                                .order_by(PendingAction.id)))


AGE_BUCKETS = (("< 1 day", 0, 1), ("1-7 days", 1, 7), ("7-30 days", 7, 30),
               ("> 30 days", 30, None))


def open_breaks_by_type_and_age(session: Session, now: datetime | None = None
                                ) -> dict[str, dict[str, int]]:
    """Open breaks counted by type and by age bucket (for the dashboard)."""
    now = now or utcnow()
    bucket_cases = []
    for label, low, high in AGE_BUCKETS:
        younger = ReconciliationBreak.created_at <= now - timedelta(days=low)
        condition = younger if high is None else younger & (
            ReconciliationBreak.created_at > now - timedelta(days=high))
        bucket_cases.append((condition, label))
    bucket = case(*bucket_cases, else_=AGE_BUCKETS[0][0])
    rows = session.execute(
        select(ReconciliationBreak.type, bucket, func.count())
        .where(ReconciliationBreak.status == OPEN)
        .group_by(ReconciliationBreak.type, bucket))
    counts: dict[str, dict[str, int]] = {}
    for type_, label, n in rows:
        counts.setdefault(type_, {b[0]: 0 for b in AGE_BUCKETS})[label] += int(n)
    return counts


KNOWN_TYPES = BREAK_TYPES
