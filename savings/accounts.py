"""Savings accounts: the personal "Akiba" account, goals with a target and a lock date, balances.

Every function runs in the caller's transaction. The personal account is
opened on first use; a goal is opened by the saver (USSD) with a name, a target
and, optionally, a date before which it cannot be withdrawn from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import ledger
from lending.localtime import today
from lending.models import MEMBER_ACTIVE, Member
from savings.chart import savings_account
from savings.errors import SavingsError
from savings.models import GOAL, OPEN, PERSONAL, Chama, ChamaMember, SavingsAccount
from savings.products import default_product

PERSONAL_LABEL = "akiba"
MAX_GOALS = 5  # a goal list must fit one USSD screen
GOAL_NAME_MAX = 20
MAX_TARGET = 100_000_000  # KES 1,000,000
MAX_LOCK_DAYS = 3 * 366


@dataclass(frozen=True, slots=True)
class AccountView:
    """A savings account as the menus, SMS and API show it."""

    id: int
    kind: str
    name: str
    balance: int
    target: int | None
    lock_until: date | None
    currency: str = "KES"

    @property
    def locked(self) -> bool:
        return self.lock_until is not None and today() < self.lock_until

    @property
    def progress_percent(self) -> int | None:
        """How far towards the target, in whole percent (floored, at most 100)."""
        if not self.target:
            return None
        return min(100, self.balance * 100 // self.target)


def saver(session: Session, member_id: int) -> Member:
    """The member, if they may save: active members only."""
    member = session.get(Member, member_id)
    if member is None:
        raise SavingsError("unknown_member", f"no member {member_id}", "member_id")
    if member.status != MEMBER_ACTIVE:
        raise SavingsError("member_inactive", "only active members can save")
    return member


def personal_account(session: Session, member_id: int) -> SavingsAccount:
    """The member's Akiba account, opened on first use."""
    account = _by_label(session, member_id, PERSONAL_LABEL)
    if account is not None:
        return account
    member = saver(session, member_id)
    account = _insert_account(session, member, PERSONAL, PERSONAL_LABEL, "Akiba", None, None)
    return account


def open_goal(session: Session, member_id: int, *, name: str, target: int,
              lock_until: date | None) -> SavingsAccount:
    """Open a goal; the same name twice is the same goal (a repeated USSD request)."""
    member = saver(session, member_id)
    clean = " ".join(name.split())[:GOAL_NAME_MAX]
    if not clean:
        raise SavingsError("invalid_name", "a goal needs a name", "name")
    if isinstance(target, bool) or not isinstance(target, int) or not 0 < target <= MAX_TARGET:
        raise SavingsError("invalid_target", "a target from 1 to KES 1,000,000", "target")
    if lock_until is not None and not today() < lock_until <= date.fromordinal(
            today().toordinal() + MAX_LOCK_DAYS):
        raise SavingsError("invalid_lock_date", "a lock date within three years", "lock_until")
    label = clean.lower()
    if label == PERSONAL_LABEL:
        raise SavingsError("invalid_name", "that name is taken by your Akiba account", "name")
    existing = _by_label(session, member_id, label)
    if existing is not None:
        return existing
    if len(goals(session, member_id)) >= MAX_GOALS:
        raise SavingsError("too_many_goals", f"at most {MAX_GOALS} goals", "name")
    return _insert_account(session, member, GOAL, label, clean, target, lock_until)


def _insert_account(session: Session, member: Member, kind: str, label: str, name: str,
                    target: int | None, lock_until: date | None) -> SavingsAccount:
    product = default_product(session)
    account = SavingsAccount(member_id=member.id, product_id=product.id, kind=kind, label=label,
                             name=name, target=target, lock_until=lock_until,
                             currency=product.currency, status=OPEN)
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError:  # the same label opened by a concurrent request
        found = _by_label(session, member.id, label)
        if found is None:
            raise
        return found
    # Create the ledger account now, so it always precedes its in-flight account (lock order).
    ledger.get_account(session, savings_account(account.id), account.currency)
    return account


def _by_label(session: Session, member_id: int, label: str) -> SavingsAccount | None:
    return session.scalar(select(SavingsAccount).where(
        SavingsAccount.member_id == member_id, SavingsAccount.label == label))


def goals(session: Session, member_id: int) -> list[SavingsAccount]:
    return list(session.scalars(select(SavingsAccount).where(
        SavingsAccount.member_id == member_id, SavingsAccount.kind == GOAL,
        SavingsAccount.status == OPEN).order_by(SavingsAccount.id)))


def owned_account(session: Session, member_id: int, account_id: int) -> SavingsAccount:
    """One of the member's open accounts; anyone else's answers as if it did not exist."""
    account = session.get(SavingsAccount, account_id)
    if account is None or account.member_id != member_id or account.status != OPEN:
        raise SavingsError("unknown_account", f"no savings account {account_id}", "account_id")
    return account


def balance(session: Session, account: SavingsAccount) -> int:
    return ledger.balance(session, savings_account(account.id))


def view(session: Session, account: SavingsAccount) -> AccountView:
    return AccountView(account.id, account.kind, account.name, balance(session, account),
                       account.target, account.lock_until, account.currency)


def member_accounts(session: Session, member_id: int) -> list[AccountView]:
    """The member's accounts, Akiba first (opened if need be), then goals by age."""
    accounts = [personal_account(session, member_id), *goals(session, member_id)]
    return [view(session, account) for account in accounts]


def total_saved(session: Session, member_id: int) -> int:
    rows = session.scalars(select(SavingsAccount).where(SavingsAccount.member_id == member_id))
    return sum(balance(session, account) for account in rows)


@dataclass(frozen=True, slots=True)
class Membership:
    chama: Chama
    position: int


def membership(session: Session, chama_id: int, member_id: int) -> Membership:
    """The chama a member belongs to, with their place in its payout order."""
    row = session.execute(select(Chama, ChamaMember.position)
                          .join(ChamaMember, ChamaMember.chama_id == Chama.id)
                          .where(Chama.id == chama_id, ChamaMember.member_id == member_id)).first()
    if row is None:
        raise SavingsError("not_a_member", "not a member of that chama", "chama_id")
    return Membership(row[0], row[1])
