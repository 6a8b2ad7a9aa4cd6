"""Whatever matching leaves becomes a break of a named type; matched ones close."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from core.db import UTCDateTime
from payments.breaks import fact_key, open_breaks_from
from payments.models import (
    AMOUNT_MISMATCH,
    CALLBACK_WITHOUT_INTENT,
    DUPLICATE,
    INTENT_WITHOUT_CALLBACK,
    LEDGER_WITHOUT_STATEMENT,
    OPEN,
    PENDING,
    REQUESTED,
    RESOLVED,
    STALE_PENDING,
    STATEMENT_WITHOUT_LEDGER,
    UNKNOWN,
    CallbackInbox,
    PaymentIntent,
    ReconciliationBreak,
)
from reconciliation.config import MATCHED, MISMATCH, SYSTEM_ACTOR
from reconciliation.context import RunContext, item_open, line_open, our_items, statement_lines
from reconciliation.models import ReconMatch
from reconciliation.sql import json_object, rows_written, sql_key, text_const
from reconciliation.statements import StatementImport


def _open_breaks(ctx: RunContext, type_: str, rows: Select[Any]) -> int:
    """Open a break for each row whose fact has none yet (`payments.breaks`, one per fact).

    `rows` yields key, amount, receipt, phone, intent_id, inbox_id, loan_id,
    journal_entry_id, details (a JSON object); keys come from `fact_key`'s prefix.
    """
    r = rows.subquery("r")
    chosen = select(
        literal(type_).label("type"), literal(OPEN).label("status"), r.c.key.label("dedupe_key"),
        r.c.amount, literal(ctx.config.currency).label("currency"), r.c.receipt, r.c.phone,
        r.c.intent_id, r.c.inbox_id, r.c.loan_id, r.c.journal_entry_id, r.c.details,
        literal(ctx.now, UTCDateTime()).label("created_at"),
    )
    return open_breaks_from(ctx.session, chosen)


def _prefix(type_: str, subject_kind: str) -> str:
    """The constant head of the natural key of a `type_` break about a `subject_kind`."""
    return fact_key(type_, f"{subject_kind}:")


def _break_row(key: ColumnElement[str], *, amount: Any = None, receipt: Any = None,
               phone: Any = None, intent_id: Any = None, inbox_id: Any = None,
               loan_id: Any = None, journal_entry_id: Any = None,
               details: ColumnElement[Any]) -> list[Any]:
    """The columns `_open_breaks` expects, with typed NULLs for what a type lacks."""

    def number(value: Any) -> Any:
        return cast(null(), BigInteger) if value is None else value

    def word(value: Any) -> Any:
        return cast(null(), String) if value is None else value

    return [
        key.label("key"), number(amount).label("amount"), word(receipt).label("receipt"),
        word(phone).label("phone"), number(intent_id).label("intent_id"),
        number(inbox_id).label("inbox_id"), number(loan_id).label("loan_id"),
        number(journal_entry_id).label("journal_entry_id"), details.label("details"),
    ]


def find_amount_mismatches(ctx: RunContext) -> int:
    """The same receipt on both sides with amounts further apart than the tolerance."""
    s, i = statement_lines(), our_items()
    m = ReconMatch.__table__.alias("m")
    rows = (
        select(*_break_row(
            sql_key(_prefix(AMOUNT_MISMATCH, "receipt"), s.c.receipt), amount=s.c.amount,
            receipt=s.c.receipt, intent_id=i.c.intent_id, loan_id=i.c.loan_id,
            journal_entry_id=i.c.journal_entry_id,
            details=json_object(statement_amount=s.c.amount, ledger_amount=i.c.amount,
                                difference=s.c.amount - i.c.amount,
                                statement_line_id=s.c.id, item_id=i.c.id)))
        .select_from(m.join(s, s.c.id == m.c.statement_line_id).join(i, i.c.id == m.c.item_id))
        .where(m.c.status == MISMATCH)
    )
    return _open_breaks(ctx, AMOUNT_MISMATCH, rows)


def find_duplicates(ctx: RunContext) -> int:
    """A receipt recorded more than once on our side (a double credit or payout)."""
    i = our_items()
    rows = (
        select(*_break_row(
            sql_key(_prefix(DUPLICATE, "receipt"), i.c.receipt), amount=func.max(i.c.amount),
            receipt=i.c.receipt, loan_id=func.max(i.c.loan_id),
            journal_entry_id=func.max(i.c.journal_entry_id),
            details=json_object(copies=func.count() + 1,
                                first_item_id=func.min(i.c.duplicate_of))))
        .where(i.c.duplicate_of.is_not(None))
        .group_by(i.c.receipt)
    )
    return _open_breaks(ctx, DUPLICATE, rows)


def find_statement_without_ledger(ctx: RunContext) -> int:
    """Provider lines that match nothing of ours (money we never booked)."""
    s = statement_lines()
    rows = select(*_break_row(
        sql_key(_prefix(STATEMENT_WITHOUT_LEDGER, "line"), s.c.receipt), amount=s.c.amount,
        receipt=s.c.receipt, phone=func.substr(s.c.party_phone, 1, 16),
        details=json_object(statement_line_id=s.c.id, account_reference=s.c.account_reference,
                            completed_epoch=s.c.completed_epoch,
                            direction=case((s.c.amount > 0, text_const("in")),
                                           else_=text_const("out"))),
    )).where(line_open(s))
    return _open_breaks(ctx, STATEMENT_WITHOUT_LEDGER, rows)


def find_ledger_without_statement(ctx: RunContext) -> int:
    """Our movements inside a statement's period that the statement does not show.

    Only items at least one time window before the end of an imported period
    count: the provider may complete a payment a little after we recorded it.
    """
    i = our_items()
    periods = statement_periods(ctx.session, ctx.config.time_window_seconds)
    if not periods:
        return 0
    covered = or_(*(i.c.occurred_epoch.between(first, last) for first, last in periods))
    rows = select(*_break_row(
        sql_key(_prefix(LEDGER_WITHOUT_STATEMENT, "item"), i.c.source, ":", i.c.source_id),
        amount=i.c.amount, receipt=i.c.receipt, intent_id=i.c.intent_id, loan_id=i.c.loan_id,
        journal_entry_id=i.c.journal_entry_id,
        details=json_object(item_id=i.c.id, source=i.c.source, reference=i.c.reference),
    )).where(item_open(i), covered)
    return _open_breaks(ctx, LEDGER_WITHOUT_STATEMENT, rows)


def statement_periods(session: Session, margin: int) -> list[tuple[int, int]]:
    """The epochs the imported statements cover, overlapping periods merged.

    Each period ends `margin` seconds early: the provider may complete a payment
    a little after we recorded it, and it would then be on the next statement.
    """
    rows = session.execute(select(StatementImport.first_epoch, StatementImport.last_epoch)
                           .where(StatementImport.first_epoch.is_not(None))
                           .order_by(StatementImport.first_epoch)).all()
    merged: list[tuple[int, int]] = []
    for first, last in ((int(a), int(b)) for a, b in rows if a is not None and b is not None):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return [(first, last - margin) for first, last in merged if last - margin >= first]


def _callback_for(intent: Any) -> ColumnElement[bool]:
    """Whether the inbox holds a callback for this intent (STK or B2C result)."""
    return exists().where(or_(
        and_(CallbackInbox.kind == "stk",
             CallbackInbox.external_id == intent.c.checkout_request_id),
        and_(CallbackInbox.kind.in_(("b2c_result", "b2c_timeout", "reversal_result")),
             CallbackInbox.external_id.in_((intent.c.originator_conversation_id,
                                            intent.c.conversation_id))),
    ))


WAITING = (PENDING, REQUESTED, UNKNOWN)


def find_intents_without_callback(ctx: RunContext) -> int:
    """Requests sent to M-Pesa, past their deadline, with no callback stored at all."""
    pi = PaymentIntent.__table__.alias("pi")
    sent = or_(pi.c.checkout_request_id.is_not(None),
               pi.c.originator_conversation_id.is_not(None))
    rows = select(*_break_row(
        sql_key(_prefix(INTENT_WITHOUT_CALLBACK, "intent"), pi.c.id), amount=pi.c.amount,
        intent_id=pi.c.id, loan_id=pi.c.loan_id,
        details=json_object(kind=pi.c.kind, status=pi.c.status, reference=pi.c.reference),
    )).where(pi.c.status.in_(WAITING), sent,
             pi.c.deadline_at < ctx.seconds_ago(ctx.config.intent_grace_seconds),
             ~_callback_for(pi))
    return _open_breaks(ctx, INTENT_WITHOUT_CALLBACK, rows)


def find_stale_pending(ctx: RunContext) -> int:
    """Intents still unsettled long after a callback arrived for them."""
    pi = PaymentIntent.__table__.alias("pi")
    rows = select(*_break_row(
        sql_key(_prefix(STALE_PENDING, "intent"), pi.c.id), amount=pi.c.amount, intent_id=pi.c.id,
        loan_id=pi.c.loan_id,
        details=json_object(kind=pi.c.kind, status=pi.c.status, reference=pi.c.reference),
    )).where(pi.c.status.in_(WAITING),
             pi.c.created_at < ctx.seconds_ago(ctx.config.stale_after_seconds),
             _callback_for(pi))
    return _open_breaks(ctx, STALE_PENDING, rows)


def find_callbacks_without_intent(ctx: RunContext) -> int:
    """STK and B2C results that name no intent of ours, after a grace period."""
    cb = CallbackInbox.__table__.alias("cb")
    known = exists().where(or_(
        PaymentIntent.checkout_request_id == cb.c.external_id,
        PaymentIntent.originator_conversation_id == cb.c.external_id,
        PaymentIntent.conversation_id == cb.c.external_id,
    ))
    rows = select(*_break_row(
        sql_key(_prefix(CALLBACK_WITHOUT_INTENT, "inbox"), cb.c.id), inbox_id=cb.c.id,
        details=json_object(kind=cb.c.kind, external_id=cb.c.external_id),
    )).where(cb.c.kind.in_(("stk", "b2c_result")), ~cb.c.external_id.startswith("unreadable:"),
             cb.c.received_at < ctx.seconds_ago(ctx.config.orphan_grace_seconds), ~known)
    return _open_breaks(ctx, CALLBACK_WITHOUT_INTENT, rows)


BREAK_FINDERS = (
    (AMOUNT_MISMATCH, find_amount_mismatches),
    (DUPLICATE, find_duplicates),
    (STATEMENT_WITHOUT_LEDGER, find_statement_without_ledger),
    (LEDGER_WITHOUT_STATEMENT, find_ledger_without_statement),
    (INTENT_WITHOUT_CALLBACK, find_intents_without_callback),
    (STALE_PENDING, find_stale_pending),
    (CALLBACK_WITHOUT_INTENT, find_callbacks_without_intent),
)


def close_cleared_breaks(ctx: RunContext) -> int:
    """Close open breaks whose statement line or item this run has matched.

    Only this run's pairs are looked at: a pair made earlier would have cleared
    its break in its own run, so each run's work stays in proportion to its news.
    """
    rb = ReconciliationBreak
    clearable = (STATEMENT_WITHOUT_LEDGER, LEDGER_WITHOUT_STATEMENT, INTENT_WITHOUT_CALLBACK,
                 STALE_PENDING)
    if not ctx.session.scalar(select(exists().where(rb.status == OPEN,
                                                    rb.type.in_(clearable)))):
        return 0  # a first run over a big statement: nothing to clear, nothing to hash
    m, s, i = ReconMatch.__table__.alias("m"), statement_lines(), our_items()
    new_pairs = and_(m.c.run_id == ctx.run_id, m.c.status == MATCHED)
    lines = (select(s.c.receipt).select_from(m.join(s, s.c.id == m.c.statement_line_id))
             .where(new_pairs))
    items = select(i.c.intent_id, i.c.journal_entry_id).select_from(
        m.join(i, i.c.id == m.c.item_id)).where(new_pairs).subquery("items")
    by_intent = select(items.c.intent_id).where(items.c.intent_id.is_not(None))
    by_entry = select(items.c.journal_entry_id).where(items.c.journal_entry_id.is_not(None))
    settled = exists().where(PaymentIntent.id == rb.intent_id,
                             PaymentIntent.status.not_in(WAITING))
    cleared = or_(
        and_(rb.type == STATEMENT_WITHOUT_LEDGER, rb.receipt.in_(lines)),
        and_(rb.type == LEDGER_WITHOUT_STATEMENT,
             or_(rb.intent_id.in_(by_intent), rb.journal_entry_id.in_(by_entry))),
        and_(rb.type.in_((INTENT_WITHOUT_CALLBACK, STALE_PENDING)), settled),
    )
    closed = rows_written(ctx.session, update(rb).where(rb.status == OPEN, cleared).values(
        status=RESOLVED, resolved_at=ctx.now, resolved_by=SYSTEM_ACTOR,
        resolution=f"cleared by reconciliation run {ctx.run_id}",
    ))
    if closed:
        ctx.session.expire_all()  # breaks loaded before the UPDATE must be read again
    return closed
