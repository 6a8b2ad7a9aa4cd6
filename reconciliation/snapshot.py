"""Our side: copy every money movement we recorded into `recon_items`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    String,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.orm import Session

from ledger import MOBILE_MONEY_FLOAT, Account, JournalEntry, Posting
from payments.models import PAYOUTS, REVERSAL, SUCCEEDED, PaymentIntent
from reconciliation.config import INTENT_SOURCE, LEDGER_SOURCE
from reconciliation.models import ReconItem
from reconciliation.sql import analyze, epoch, rows_written, sql_phone_key


def snapshot_items(session: Session) -> int:
    """Copy money movements recorded since the last run into `recon_items`; returns how many."""
    before = session.scalar(select(func.coalesce(func.max(ReconItem.id), 0))) or 0
    added = _insert_items(session, _settled_intents())
    added += _insert_items(session, _receipted_entries())
    if added:
        _mark_duplicates(session, before)
    return added


ITEM_COLUMNS = ("source", "source_id", "receipt", "reference", "phone_key", "amount",
                "occurred_at", "occurred_epoch", "intent_id", "journal_entry_id", "loan_id")


def _insert_items(session: Session, rows: Select[Any]) -> int:
    return rows_written(session, insert(ReconItem).from_select(ITEM_COLUMNS, rows))


def _settled_intents() -> Select[Any]:
    """Intents M-Pesa confirmed: collections in (+), payouts and reversals out (-)."""
    pi = PaymentIntent.__table__.alias("pi")
    occurred = func.coalesce(pi.c.settled_at, pi.c.created_at)
    signed = case((pi.c.kind.in_((*PAYOUTS, REVERSAL)), -pi.c.amount), else_=pi.c.amount)
    seen = exists().where(ReconItem.source == INTENT_SOURCE, ReconItem.source_id == pi.c.id)
    return select(
        literal(INTENT_SOURCE), pi.c.id, pi.c.receipt, func.upper(pi.c.reference),
        sql_phone_key(pi.c.phone), signed, occurred, epoch(occurred), pi.c.id,
        cast(null(), BigInteger), pi.c.loan_id,
    ).where(pi.c.status == SUCCEEDED, pi.c.receipt.is_not(None), ~seen)


def _receipted_entries() -> Select[Any]:
    """Ledger entries that moved the float under a receipt no settled intent carries.

    C2B payments (repayments by paybill, money parked in suspense) reach the
    ledger without an intent; their entries carry the receipt in `meta`.
    """
    entry = JournalEntry.__table__.alias("je")
    posting = Posting.__table__.alias("lp")
    account = Account.__table__.alias("la")
    receipt = entry.c.meta["receipt"].as_string()
    reference = func.coalesce(entry.c.meta["loan_reference"].as_string(), "")
    by_intent = exists().where(PaymentIntent.receipt == receipt,
                               PaymentIntent.status == SUCCEEDED)
    seen = exists().where(ReconItem.source == LEDGER_SOURCE, ReconItem.source_id == entry.c.id)
    return (
        select(literal(LEDGER_SOURCE), entry.c.id, receipt, func.upper(reference),
               cast(null(), String), posting.c.amount, entry.c.occurred_at,
               epoch(entry.c.occurred_at), cast(null(), BigInteger), entry.c.id, entry.c.loan_id)
        .select_from(entry.join(posting, posting.c.entry_id == entry.c.id)
                     .join(account, account.c.id == posting.c.account_id))
        .where(account.c.code == MOBILE_MONEY_FLOAT.code, receipt.is_not(None),
               entry.c.reverses_id.is_(None), ~by_intent, ~seen)
    )


def _mark_duplicates(session: Session, after_id: int) -> None:
    """A receipt recorded twice on our side: later copies point at the first."""
    analyze(session, "recon_items")
    fresh = select(ReconItem.receipt).where(ReconItem.id > after_id,
                                           ReconItem.receipt.is_not(None))
    first = ReconItem.__table__.alias("first")
    repeated = (select(first.c.receipt, func.min(first.c.id).label("first_id"))
                .where(first.c.receipt.in_(fresh))
                .group_by(first.c.receipt).having(func.count() > 1)
                .subquery("repeated"))
    rows_written(session, update(ReconItem)
                  .where(ReconItem.receipt == repeated.c.receipt,
                         ReconItem.id > repeated.c.first_id, ReconItem.id > after_id)
                  .values(duplicate_of=repeated.c.first_id))
