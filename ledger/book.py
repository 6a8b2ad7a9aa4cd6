"""Posting to the ledger and reading it back.

Every movement is one balanced journal entry (postings sum to zero per
currency) under a unique idempotency key. Postings are append-only; a
correction is a reversing entry; the trial balance sums to zero.

Balances are derived from the postings. Only an account that may never be
overdrawn (a lender's wallet, a borrower's credit, the lenders' participation
in a loan) keeps a running balance on its row: it is updated in the statement
that takes the row lock, so two withdrawals cannot both spend the same money,
and `verify()` checks it against the postings. Every other account (the float,
income, suspense, a loan's receivables) is only ever appended to, so postings
to the float from different loans never wait for one another.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Table,
    bindparam,
    case,
    column,
    func,
    insert,
    select,
    text,
    update,
    values,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.selectable import ScalarSelect

from core.clock import utcnow
from core.db import UTCDateTime, insert_once, skipping_duplicates
from ledger.chart import DEBIT_NORMAL, AccountSpec, normal_balance
from ledger.models import Account, JournalEntry, Posting

logger = logging.getLogger(__name__)


class LedgerError(Exception):
    """A movement the ledger refuses."""


class Unbalanced(LedgerError):
    """Postings do not sum to zero in every currency."""


class IdempotencyConflict(LedgerError):
    """The key was used before for a different movement."""


class InsufficientFunds(LedgerError):
    """A debit would take an account that may not go negative below zero."""

    def __init__(self, account_code: str) -> None:
        super().__init__(f"insufficient funds in {account_code}")
        self.account_code = account_code


# --- posting -----------------------------------------------------------------


def get_account(session: Session, spec: AccountSpec, currency: str) -> Account:
    """The account for `spec`, created on first use (safely under concurrency)."""
    return _accounts(session, [spec], currency)[spec.code]


def _accounts(session: Session, specs: Iterable[AccountSpec], currency: str) -> dict[str, Account]:
    """The accounts for `specs` by code, in one query; missing ones are created."""
    wanted = {spec.code: spec for spec in specs}
    found = {account.code: account for account in session.scalars(
        select(Account).where(Account.code.in_(wanted)))}
    for code in wanted.keys() - found.keys():
        found[code] = _create_account(session, wanted[code], currency)
    return found


def _create_account(session: Session, spec: AccountSpec, currency: str) -> Account:
    account = insert_once(session, Account, dict(
        code=spec.code, kind=spec.kind, currency=currency, name=spec.name,
        no_overdraft=spec.no_overdraft, balance=0 if spec.no_overdraft else None,
        created_at=utcnow(),
    ), key="code")
    if account is None:  # a concurrent transaction created it first; its row is visible now
        account = session.scalars(select(Account).where(Account.code == spec.code)).one()
    return account


def post(
    session: Session,
    key: str,
    kind: str,
    legs: Sequence[tuple[AccountSpec, int]],
    *,
    currency: str = "KES",
    description: str = "",
    loan_id: int | None = None,
    member_id: int | None = None,
    meta: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
    reverses_id: int | None = None,
) -> JournalEntry:
    """Write one balanced journal entry; the same key with the same legs is a no-op.

    The caller owns the transaction. Legs with a zero amount are dropped; legs
    on the same account are netted.
    """
    netted = _net(legs)
    if sum(netted.values()) != 0:
        raise Unbalanced(f"{kind} {key}: postings sum to {sum(netted.values())}")
    if not netted:
        raise LedgerError(f"{kind} {key}: nothing to post")

    accounts = _accounts(session, netted, currency)
    for account in accounts.values():
        if account.currency != currency:
            raise LedgerError(f"{account.code} is in {account.currency}, not {currency}")
    entry = insert_once(session, JournalEntry, dict(
        key=key, kind=kind, description=description[:300], loan_id=loan_id,
        member_id=member_id, meta=dict(meta or {}), reverses_id=reverses_id,
        occurred_at=occurred_at or utcnow(), created_at=utcnow(),
    ), key="key")
    if entry is None:
        # Posted before (or by a concurrent transaction that committed first).
        existing = session.scalars(select(JournalEntry).where(JournalEntry.key == key)).one()
        return _same_or_conflict(existing, netted)

    _apply_postings(session, entry, accounts, netted, currency)
    return entry


def _net(legs: Iterable[tuple[AccountSpec, int]]) -> dict[AccountSpec, int]:
    netted: dict[AccountSpec, int] = defaultdict(int)
    for spec, amount in legs:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise LedgerError("amounts are integer minor units")
        netted[spec] += amount
    return {spec: amount for spec, amount in netted.items() if amount != 0}


def _same_or_conflict(entry: JournalEntry, netted: Mapping[AccountSpec, int]) -> JournalEntry:
    recorded = {p.account.code: p.amount for p in entry.postings}
    wanted = {spec.code: amount for spec, amount in netted.items()}
    if recorded != wanted:
        raise IdempotencyConflict(f"{entry.key} was posted before with other amounts")
    return entry


def _apply_postings(
    session: Session,
    entry: JournalEntry,
    accounts: Mapping[str, Account],
    netted: Mapping[AccountSpec, int],
    currency: str,
) -> None:
    running = {accounts[spec.code]: amount for spec, amount in netted.items()
               if accounts[spec.code].no_overdraft}
    if running:
        new_balances = _move_running_balances(session, running)
        for account in running:
            session.expire(account, ["balance"])
            if normal_balance(account.kind, new_balances[account.id]) < 0:
                raise InsufficientFunds(account.code)
    session.execute(insert(Posting), [
        dict(entry_id=entry.id, account_id=accounts[spec.code].id, amount=amount,
             currency=currency)
        for spec, amount in netted.items()
    ])
    session.expire(entry, ["postings"])  # inserted behind the ORM's back: load on demand


def _move_running_balances(session: Session, deltas: Mapping[Account, int]) -> dict[int, int]:
    """Add each delta to its account's running balance; returns the new balances by id.

    The rows are locked in id order, so two entries touching the same accounts
    never deadlock; the other accounts of an entry are not locked at all.
    """
    by_id = {account.id: amount for account, amount in deltas.items()}
    if len(by_id) == 1 or session.get_bind().dialect.name != "postgresql":
        return {account_id: _add_to_balance(session, account_id, amount)
                for account_id, amount in sorted(by_id.items())}
    session.execute(select(Account.id).where(Account.id.in_(by_id))
                    .order_by(Account.id).with_for_update(key_share=True))
    changes = values(column("id", BigInteger), column("delta", BigInteger),
                     name="changes").data(sorted(by_id.items()))
    rows = session.execute(
        update(Account)
        .where(Account.id == changes.c.id)
        .values(balance=Account.balance + changes.c.delta)
        .returning(Account.id, Account.balance)
        .execution_options(synchronize_session=False)
    ).all()
    return {account_id: _running(balance) for account_id, balance in rows}


def _add_to_balance(session: Session, account_id: int, amount: int) -> int:
    balance = session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(balance=Account.balance + amount)
        .returning(Account.balance)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return _running(balance)


def _running(balance: int | None) -> int:
    assert balance is not None, "a no-overdraft account keeps a running balance"
    return balance


def reverse(session: Session, entry: JournalEntry, *, key: str | None = None,
            description: str = "") -> JournalEntry:
    """Post the mirror image of `entry`; an entry is reversed at most once."""
    legs = [(_spec_of(p.account), -p.amount) for p in entry.postings]
    return post(
        session, key or f"reversal:{entry.key}", f"reversal:{entry.kind}", legs,
        currency=entry.postings[0].currency, description=description or f"reverses {entry.key}",
        loan_id=entry.loan_id, member_id=entry.member_id, reverses_id=entry.id,
    )


def _spec_of(account: Account) -> AccountSpec:
    return AccountSpec(account.code, account.kind, account.name, account.no_overdraft)


# --- posting without ORM objects (the repayment path) ----------------------------------


@dataclass(frozen=True, slots=True)
class AccountRow:
    """An account as plain values; `balance` is the signed running balance (None: derived)."""

    id: int
    code: str
    kind: str
    currency: str
    no_overdraft: bool
    balance: int | None

    @property
    def normal_balance(self) -> int:
        return normal_balance(self.kind, self.balance or 0)


@dataclass(frozen=True, slots=True)
class Posted:
    """What `post_entry` wrote: the entry's id (None: the key was posted before, nothing
    written) and the normal balance each running-balance account was left with."""

    entry_id: int | None
    balances: dict[str, int]


_ACCOUNT_COLUMNS = (Account.id, Account.code, Account.kind, Account.currency,
                    Account.no_overdraft, Account.balance)
_ACCOUNTS_BY_CODE = select(*_ACCOUNT_COLUMNS).where(
    Account.code.in_(bindparam("codes", expanding=True)))


def accounts(session: Session, specs: Iterable[AccountSpec], currency: str, *,
             create: bool = True) -> dict[str, AccountRow]:
    """The accounts for `specs` by code, as plain rows, in one query; missing ones are made
    (with `create=False`, left out)."""
    wanted = {spec.code: spec for spec in specs}
    found = {row.code: AccountRow(*row) for row in session.connection().execute(
        _ACCOUNTS_BY_CODE, {"codes": list(wanted)})}
    if not create:
        return found
    for code in wanted.keys() - found.keys():
        made = _create_account(session, wanted[code], currency)
        found[code] = AccountRow(made.id, made.code, made.kind, made.currency,
                                 made.no_overdraft, made.balance)
    return found


def post_entry(
    session: Session,
    key: str,
    kind: str,
    legs: Sequence[tuple[AccountSpec, int]],
    *,
    currency: str = "KES",
    description: str = "",
    loan_id: int | None = None,
    member_id: int | None = None,
    meta: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
    known: Mapping[str, AccountRow] | None = None,
) -> Posted:
    """`post` for hot paths: plain values in and out, two statements on PostgreSQL.

    The same rules as `post` (balanced, netted, no overdraft, one entry per key),
    but a key posted before is reported (`entry_id` None) rather than compared:
    the caller owns what a repeat means. `known` are accounts the caller already
    read with `accounts` (their running balances are not trusted, only their ids).
    """
    netted = _net(legs)
    if sum(netted.values()) != 0:
        raise Unbalanced(f"{kind} {key}: postings sum to {sum(netted.values())}")
    if not netted:
        raise LedgerError(f"{kind} {key}: nothing to post")
    rows = {code: row for code, row in (known or {}).items()}
    missing = [spec for spec in netted if spec.code not in rows]
    if missing:
        rows.update(accounts(session, missing, currency))
    legs_by_id = {rows[spec.code].id: amount for spec, amount in netted.items()}
    for spec in netted:
        if rows[spec.code].currency != currency:
            raise LedgerError(f"{spec.code} is in {rows[spec.code].currency}, not {currency}")
    now = utcnow()
    entry = dict(key=key, kind=kind, description=description[:300], loan_id=loan_id,
                 member_id=member_id, meta=dict(meta or {}), reverses_id=None,
                 occurred_at=occurred_at or now, created_at=now)
    running = {row.id: netted_amount for spec, netted_amount in netted.items()
               if (row := rows[spec.code]).no_overdraft}
    if session.get_bind().dialect.name == "postgresql":
        entry_id, moved = _post_in_one_statement(session, entry, legs_by_id, currency, running)
    else:
        entry_id = _insert_entry_then_postings(session, entry, legs_by_id, currency)
        moved = _move_balances_by_id(session, running) if entry_id and running else {}
    if entry_id is None:
        return Posted(None, {})
    by_id = {row.id: row for row in rows.values()}
    balances: dict[str, int] = {}
    if running:
        for account_id, signed in moved.items():
            row = by_id[account_id]
            balances[row.code] = normal_balance(row.kind, signed)
            if balances[row.code] < 0:
                raise InsufficientFunds(row.code)
            cached = session.identity_map.get(identity_key(Account, account_id))
            if cached is not None:
                session.expire(cached, ["balance"])
    return Posted(entry_id, balances)


# The entry, its postings and the running balances it moves, in one round trip. Balances move
# only if the entry was inserted (no row back: the key was posted before, nothing changed).
# The accounts are locked in id order, after the entry is inserted, as two statements did:
# NO KEY UPDATE, not UPDATE, because inserting a posting takes a KEY SHARE lock on its
# account (the foreign key), which FOR UPDATE would wait for; a repayment that posts before
# it moves balances would then wait on another's postings while that one waits on its own.
_POST = text("""
WITH entry AS (
    INSERT INTO journal_entries (key, kind, description, loan_id, member_id, meta,
                                 occurred_at, created_at)
    VALUES (:key, :kind, :description, :loan_id, :member_id, :meta, :occurred_at, :created_at)
    ON CONFLICT (key) DO NOTHING
    RETURNING id
), postings AS (
    INSERT INTO ledger_postings (entry_id, account_id, amount, currency)
    SELECT entry.id, leg.account_id, leg.amount, :currency
    FROM entry, unnest(CAST(:account_ids AS BIGINT[]), CAST(:amounts AS BIGINT[]))
         AS leg(account_id, amount)
), locked AS MATERIALIZED (
    SELECT id FROM ledger_accounts
    WHERE id = ANY(CAST(:running_ids AS BIGINT[])) AND EXISTS (SELECT 1 FROM entry)
    ORDER BY id FOR NO KEY UPDATE
), moved AS (
    UPDATE ledger_accounts SET balance = ledger_accounts.balance + change.delta
    FROM unnest(CAST(:running_ids AS BIGINT[]), CAST(:deltas AS BIGINT[])) AS change(id, delta)
    WHERE ledger_accounts.id = change.id AND ledger_accounts.id IN (SELECT id FROM locked)
    RETURNING ledger_accounts.id, ledger_accounts.balance
)
SELECT entry.id, moved.id AS account_id, moved.balance FROM entry LEFT JOIN moved ON true
""").bindparams(bindparam("meta", type_=JSON()), bindparam("occurred_at", type_=UTCDateTime()),
                bindparam("created_at", type_=UTCDateTime()))

def _post_in_one_statement(session: Session, entry: dict[str, Any], legs: Mapping[int, int],
                           currency: str, running: Mapping[int, int]
                           ) -> tuple[int | None, dict[int, int]]:
    """PostgreSQL: the entry, its postings and the running balances moved (`_POST`); returns
    the entry's id (None if the key exists) and each moved account's signed balance."""
    params = {k: v for k, v in entry.items() if k != "reverses_id"}
    ordered = sorted(running.items())
    rows = session.connection().execute(_POST, {
        **params, "currency": currency, "account_ids": list(legs),
        "amounts": list(legs.values()), "running_ids": [account for account, _ in ordered],
        "deltas": [delta for _, delta in ordered]}).all()
    if not rows:
        return None, {}
    moved = {account_id: _running(balance) for _, account_id, balance in rows
             if account_id is not None}
    if len(moved) != len(running):  # an account without a running balance to move
        raise LedgerError(f"{entry['key']}: {len(running) - len(moved)} running balances "
                          "not moved")
    return rows[0][0], moved


def _insert_entry_then_postings(session: Session, entry: dict[str, Any],
                                legs: Mapping[int, int], currency: str) -> int | None:
    table = cast(Table, JournalEntry.__table__)
    conn = session.connection()
    entry_id = conn.execute(skipping_duplicates(table, "key", conn.dialect.name)
                            .values(entry).returning(table.c.id)).scalar()
    if entry_id is not None:
        conn.execute(insert(Posting), [
            dict(entry_id=entry_id, account_id=account_id, amount=amount, currency=currency)
            for account_id, amount in legs.items()])
    return entry_id


def _move_balances_by_id(session: Session, deltas: Mapping[int, int]) -> dict[int, int]:
    """Add each delta to its account's running balance (rows locked in id order; SQLite,
    PostgreSQL does it in `_POST`)."""
    return {account_id: _add_to_balance(session, account_id, amount)
            for account_id, amount in sorted(deltas.items())}


# --- reading -------------------------------------------------------------------


def balance(session: Session, spec: AccountSpec) -> int:
    """The normal balance of an account (0 if it was never used)."""
    row = session.execute(
        select(Account.id, Account.kind, Account.balance).where(Account.code == spec.code)
    ).first()
    if row is None:
        return 0
    signed = row.balance
    if signed is None:
        signed = session.scalar(
            select(func.coalesce(func.sum(Posting.amount), 0))
            .where(Posting.account_id == row.id))
    return normal_balance(row.kind, int(signed))


def balance_column(code: str | ColumnElement[str]) -> ScalarSelect[Any]:
    """`balance` of the account with this code (an `AccountSpec.code`, or a bound parameter
    for a statement built once) as a column of another query, one round trip instead of
    two: the account's normal balance, NULL when it was never used (read it as 0)."""
    signed = func.coalesce(Account.balance, select(func.coalesce(func.sum(Posting.amount), 0))
                           .where(Posting.account_id == Account.id).scalar_subquery())
    normal = case((Account.kind.in_(DEBIT_NORMAL), signed), else_=-signed)
    return select(normal).where(Account.code == code).scalar_subquery()


def lock_account(session: Session, spec: AccountSpec, currency: str = "KES") -> Account:
    """Take the account's row lock for the rest of the transaction (read-then-post)."""
    account = get_account(session, spec, currency)
    query = select(Account).where(Account.id == account.id).with_for_update(
        key_share=True).execution_options(populate_existing=True)
    locked = session.scalar(query)
    assert locked is not None
    return locked


@dataclass(frozen=True)
class TrialBalanceLine:
    code: str
    kind: str
    currency: str
    balance: int  # signed: debit positive

    @property
    def normal_balance(self) -> int:
        return normal_balance(self.kind, self.balance)


@dataclass(frozen=True)
class TrialBalance:
    lines: list[TrialBalanceLine]

    def totals(self) -> dict[str, int]:
        """Signed total per currency; zero in every currency for a sound ledger."""
        sums: dict[str, int] = defaultdict(int)
        for line in self.lines:
            sums[line.currency] += line.balance
        return dict(sums)

    @property
    def balanced(self) -> bool:
        return all(total == 0 for total in self.totals().values())


def trial_balance(session: Session) -> TrialBalance:
    """Every account's balance, derived from the postings themselves."""
    rows = session.execute(
        select(Account.code, Account.kind, Account.currency,
               func.coalesce(func.sum(Posting.amount), 0))
        .join(Posting, Posting.account_id == Account.id, isouter=True)
        .group_by(Account.id, Account.code, Account.kind, Account.currency)
        .order_by(Account.code)
    ).all()
    return TrialBalance([TrialBalanceLine(code, kind, cur, int(total))
                         for code, kind, cur, total in rows])


@dataclass(frozen=True)
class Verification:
    balanced: bool
    unbalanced_entries: list[int]
    stale_balances: list[str]

    @property
    def ok(self) -> bool:
        return self.balanced and not self.unbalanced_entries and not self.stale_balances


def verify(session: Session) -> Verification:
    """Check the whole ledger: entries balance, running balances match postings, total is 0."""
    unbalanced = session.scalars(
        select(Posting.entry_id)
        .group_by(Posting.entry_id, Posting.currency)
        .having(func.sum(Posting.amount) != 0)
    ).all()
    derived = (
        select(Posting.account_id, func.sum(Posting.amount).label("total"))
        .group_by(Posting.account_id)
        .subquery()
    )
    stale = session.scalars(
        select(Account.code)
        .join(derived, derived.c.account_id == Account.id, isouter=True)
        .where(Account.no_overdraft,
               func.coalesce(Account.balance, 0) != func.coalesce(derived.c.total, 0))
        .order_by(Account.code)
    ).all()
    totals = session.execute(
        select(Posting.currency, func.sum(Posting.amount)).group_by(Posting.currency)
    ).all()
    return Verification(
        balanced=all(int(total) == 0 for _, total in totals),
        unbalanced_entries=list(unbalanced),
        stale_balances=list(stale),
    )


def entries_for_member(session: Session, member_id: int, limit: int = 5) -> list[JournalEntry]:
    """The latest entries that concern a member, newest first (mini statements)."""
    return list(
        session.scalars(
            select(JournalEntry)
            .where(JournalEntry.member_id == member_id)
            .order_by(JournalEntry.occurred_at.desc(), JournalEntry.id.desc())
            .limit(limit)
        )
    )
