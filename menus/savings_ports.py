"""What the savings menus need from the domain: one Protocol, plain dataclasses, one refusal.

Amounts are integer minor units. Every mutating method is one unit of work: it
commits before returning, or raises having changed nothing (as `menus.ports`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, runtime_checkable

from menus.ports import ServiceRefused

SAVINGS_REASONS = (
    "insufficient_funds",  # withdraw: the account does not hold that much
    "daily_limit",  # withdraw: above what is left of today's limit
    "invalid_amount",  # deposit/withdraw: not whole shillings within the bounds
    "locked",  # withdraw: the goal is locked until its date
    "too_many_goals",  # open_goal: the member has the most goals allowed
    "invalid_name",  # open_goal: empty, or the personal account's name
    "not_a_member",  # chama: not a member of that chama
    "service_unavailable",  # anything else
)


class SavingsRefused(ServiceRefused):
    """The domain said no, for a reason the saver can be told (one of SAVINGS_REASONS)."""


@dataclass(frozen=True, slots=True)
class AccountLine:
    id: int
    kind: str  # "personal" | "goal"
    name: str
    balance: int
    target: int | None = None
    lock_until: date | None = None
    locked: bool = False
    currency: str = "KES"


@dataclass(frozen=True, slots=True)
class SavingsView:
    accounts: list[AccountLine]  # the personal account first
    rate_percent: str  # "6"
    withdraw_left: int  # what today's withdrawal limit still allows
    min_transfer: int
    max_deposit: int
    currency: str = "KES"


@dataclass(frozen=True, slots=True)
class ChamaView:
    id: int
    name: str
    contribution: int
    round: int
    round_ends: date
    pot: int
    next_names: list[str] = field(default_factory=list)
    paid_this_round: int = 0
    currency: str = "KES"


class SavingsServices(Protocol):
    """The domain calls the savings menus make; nothing else."""

    def savings(self, member_id: int) -> SavingsView:
        """The member's accounts (Akiba opened on first use), the rate, withdrawal headroom."""
        ...

    def deposit(self, member_id: int, account_id: int, amount: int, idempotency_key: str) -> None:
        """Queue an M-Pesa prompt to the member's phone for a deposit into one account."""
        ...

    def withdraw(self, member_id: int, account_id: int, amount: int,
                 idempotency_key: str) -> bool:
        """Pay savings out to the registered phone (held at once); False: waits for a check."""
        ...

    def open_goal(self, member_id: int, name: str, target: int,
                  lock_until: date | None) -> AccountLine:
        """Open a savings goal (the same name again is the same goal)."""
        ...

    def chama(self, member_id: int) -> ChamaView | None:
        """The member's chama (the first, if several), or None."""
        ...

    def contribute(self, member_id: int, chama_id: int, idempotency_key: str) -> None:
        """Queue an M-Pesa prompt for this round's contribution."""
        ...

    def send_chama_statement(self, member_id: int, chama_id: int, idempotency_key: str) -> None:
        """Queue the chama statement SMS to the member's phone."""
        ...


@runtime_checkable
class ProvidesSavingsServices(Protocol):
    """A borrower-services object that can also serve the savings menus (e.g. a test fake)."""

    def savings_services(self) -> SavingsServices:
        ...


def savings_services_for(services: Any) -> SavingsServices:
    """The savings port beside the borrower port the engine was given for this request.

    The domain adapter (or a test fake) provides it; the domain's shares the borrower
    adapter's session, so one request keeps one transaction.
    """
    if isinstance(services, ProvidesSavingsServices):
        return services.savings_services()
    raise SavingsRefused("service_unavailable")
