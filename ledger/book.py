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
from typing import Any

from sqlalchemy import BigInteger, column, func, insert, select, update, values
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import insert_once
from ledger.chart import AccountSpec, normal_balance
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
                    .order_by(Account.id).with_for_update())
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


def lock_account(session: Session, spec: AccountSpec, currency: str = "KES") -> Account:
    """Take the account's row lock for the rest of the transaction (read-then-post)."""
    account = get_account(session, spec, currency)
    query = select(Account).where(Account.id == account.id).execution_options(
        populate_existing=True
    )
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
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
