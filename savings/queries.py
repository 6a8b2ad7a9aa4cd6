"""Read models for operators and field partners: accounts with balances, chamas, totals.

`field_partner_id` scopes every query to one partner's borrowers (None: everything);
a row outside the scope reads exactly as a row that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

import ledger
from ledger import Account, JournalEntry, Posting
from lending.models import Member
from savings import chamas
from savings.chart import SAVINGS_INTEREST_EXPENSE, chama_pool, savings_account
from savings.models import Chama, ChamaPayout, SavingsAccount


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    member_id: int
    first_name: str
    field_partner_id: int | None
    kind: str
    name: str
    balance: int
    target: int | None
    lock_until: date | None
    created_at: datetime
    currency: str = "KES"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "member_id": self.member_id, "first_name": self.first_name,
                "field_partner_id": self.field_partner_id, "kind": self.kind, "name": self.name,
                "balance": self.balance, "target": self.target,
                "lock_until": self.lock_until.isoformat() if self.lock_until else None,
                "currency": self.currency, "created_at": self.created_at.isoformat()}


def _accounts(field_partner_id: int | None) -> Select[SavingsAccount, Member]:
    query = select(SavingsAccount, Member).join(Member, Member.id == SavingsAccount.member_id)
    if field_partner_id is not None:
        query = query.where(Member.field_partner_id == field_partner_id)
    return query


def _row(session: Session, account: SavingsAccount, member: Member) -> AccountRow:
    return AccountRow(account.id, member.id, member.first_name, member.field_partner_id,
                      account.kind, account.name,
                      ledger.balance(session, savings_account(account.id)), account.target,
                      account.lock_until, account.created_at, account.currency)


def list_accounts(session: Session, *, field_partner_id: int | None = None,
                  member_id: int | None = None, limit: int = 50,
                  offset: int = 0) -> tuple[list[AccountRow], int]:
    """Savings accounts newest first, with their balances from the ledger."""
    query = _accounts(field_partner_id)
    if member_id is not None:
        query = query.where(SavingsAccount.member_id == member_id)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.execute(query.order_by(SavingsAccount.id.desc()).limit(limit)
                           .offset(offset)).all()
    return [_row(session, account, member) for account, member in rows], total


def find_account(session: Session, account_id: int,
                 field_partner_id: int | None = None) -> AccountRow | None:
    found = session.execute(_accounts(field_partner_id)
                            .where(SavingsAccount.id == account_id)).first()
    return None if found is None else _row(session, found[0], found[1])


@dataclass(frozen=True, slots=True)
class Movement:
    occurred_at: datetime
    kind: str
    amount: int  # positive: into the account
    description: str

    def to_json(self) -> dict[str, Any]:
        return {"occurred_at": self.occurred_at.isoformat(), "kind": self.kind,
                "amount": self.amount, "description": self.description}


def movements(session: Session, account_id: int, limit: int = 20) -> list[Movement]:
    """The account's latest ledger movements, newest first."""
    rows = session.execute(
        select(JournalEntry.occurred_at, JournalEntry.kind, Posting.amount,
               JournalEntry.description)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(Account.code == savings_account(account_id).code)
        .order_by(JournalEntry.occurred_at.desc(), JournalEntry.id.desc()).limit(limit)).all()
    return [Movement(at, kind, -int(amount), description) for at, kind, amount, description
            in rows]


def _chamas(field_partner_id: int | None) -> Select[Chama]:
    query = select(Chama)
    if field_partner_id is not None:
        query = query.where(Chama.field_partner_id == field_partner_id)
    return query


def list_chamas(session: Session, field_partner_id: int | None = None) -> list[ChamaDetail]:
    return [detail(session, chama) for chama in
            session.scalars(_chamas(field_partner_id).order_by(Chama.id.desc()))]


def find_chama(session: Session, chama_id: int,
               field_partner_id: int | None = None) -> ChamaDetail | None:
    chama = session.scalar(_chamas(field_partner_id).where(Chama.id == chama_id))
    return None if chama is None else detail(session, chama)


@dataclass(frozen=True, slots=True)
class ChamaDetail:
    summary: chamas.ChamaSummary
    pool: int
    start_date: date
    payouts_per_round: int
    field_partner_id: int | None
    members: list[dict[str, Any]] = field(default_factory=list)
    payouts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        s = self.summary
        return {"id": s.id, "code": s.code, "name": s.name, "contribution": s.contribution,
                "frequency": s.frequency, "start_date": self.start_date.isoformat(),
                "payouts_per_round": self.payouts_per_round, "round": s.round,
                "round_ends": s.round_ends.isoformat(), "pot": s.pot, "pool": self.pool,
                "next_recipients": s.next_recipients, "currency": s.currency,
                "field_partner_id": self.field_partner_id, "members": self.members,
                "payouts": self.payouts}


def detail(session: Session, chama: Chama) -> ChamaDetail:
    members = [{"position": position, "member_id": member.id, "first_name": member.first_name,
                "contributed": chamas.contributed(session, chama.id, member.id)}
               for position, member in chamas.members_in_order(session, chama.id)]
    payouts = [{"round": p.round, "member_id": p.member_id, "amount": p.amount,
                "status": p.status, "paid_at": p.paid_at.isoformat() if p.paid_at else None}
               for p in session.scalars(select(ChamaPayout).where(ChamaPayout.chama_id == chama.id)
                                        .order_by(ChamaPayout.round, ChamaPayout.id))]
    pool = ledger.balance(session, chama_pool(chama.id))
    return ChamaDetail(chamas.summary(session, chama), pool, chama.start_date,
                       chama.payouts_per_round, chama.field_partner_id, members, payouts)


@dataclass(frozen=True, slots=True)
class Totals:
    savers: int
    accounts: int
    goals: int
    saved: int
    interest_paid: int
    chamas: int

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def totals(session: Session, field_partner_id: int | None = None) -> Totals:
    """Savers, accounts, money saved (from the ledger) and interest paid; chamas."""
    rows = session.execute(_accounts(field_partner_id)).all()
    saved = sum(ledger.balance(session, savings_account(account.id)) for account, _ in rows)
    if field_partner_id is None:
        interest = ledger.balance(session, SAVINGS_INTEREST_EXPENSE)
    else:
        ids = [account.id for account, _ in rows]
        interest = int(session.scalar(
            select(func.coalesce(func.sum(Posting.amount), 0))
            .join(Account, Account.id == Posting.account_id)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Account.code == SAVINGS_INTEREST_EXPENSE.code,
                   JournalEntry.kind == "savings_interest",
                   JournalEntry.meta["account_id"].as_integer().in_(ids))) or 0) if ids else 0
    chama_count = int(session.scalar(select(func.count()).select_from(
        _chamas(field_partner_id).subquery())) or 0)
    return Totals(len({member.id for _, member in rows}), len(rows),
                  sum(1 for account, _ in rows if account.kind == "goal"), saved, interest,
                  chama_count)
