"""What the lender menus need from the domain: one Protocol, plain dataclasses, one refusal.

Amounts are integer minor units. Every mutating method is one unit of work: it
commits before returning, or raises having changed nothing (as `menus.ports`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from menus.ports import ServiceRefused

LENDER_REASONS = (
    "insufficient_funds",  # fund/withdraw: the wallet does not hold that much
    "loan_closed",  # fund: the loan is fully funded, closed, or has fewer shares left
    "daily_limit",  # withdraw: above what is left of today's limit
    "invalid_amount",  # deposit/withdraw: not whole shillings within the bounds
    "not_a_lender",  # a lender action by a member who does not lend
    "service_unavailable",  # anything else
)


class LenderRefused(ServiceRefused):
    """The domain said no, for a reason the lender can be told (one of LENDER_REASONS).

    A `ServiceRefused`, so that a refusal the flow does not catch still gets the
    engine's polite generic screen rather than an error.
    """


@dataclass(frozen=True, slots=True)
class WalletView:
    balance: int
    lent_out: int  # principal still out in loans
    withdraw_left: int  # what today's withdrawal limit still allows
    min_transfer: int
    currency: str = "KES"


@dataclass(frozen=True, slots=True)
class LoanLine:
    """A fundraising loan, enough for one line of a list and its detail screen."""

    loan_id: int
    first_name: str
    sector: str
    place: str
    amount: int
    percent_funded: int
    term: int
    frequency: str  # "weekly" | "fortnightly" | "monthly"
    share_unit: int
    shares_left: int
    still_needed: int
    story: str
    currency: str = "KES"


@dataclass(frozen=True, slots=True)
class LoanPage:
    loans: list[LoanLine]
    total: int


@dataclass(frozen=True, slots=True)
class PortfolioView:
    active: int
    repaid: int
    in_arrears: int
    lost: int
    raising: int
    lent: int
    outstanding: int
    received: int  # repayments received: principal, interest, recoveries


class LenderServices(Protocol):
    """The domain calls the lender menus make; nothing else."""

    def is_lender(self, member_id: int) -> bool:
        """Whether the member lends."""
        ...

    def become_lender(self, member_id: int) -> None:
        """Let the member lend (a borrower may also lend)."""
        ...

    def wallet(self, member_id: int) -> WalletView:
        """The wallet balance, money lent out, and today's withdrawal headroom."""
        ...

    def browse(self, member_id: int, offset: int, limit: int) -> LoanPage:
        """Fundraising loans the member may fund, closest to fully funded first."""
        ...

    def loan(self, loan_id: int) -> LoanLine:
        """One loan's line and story; refuses with loan_closed when it is not raising."""
        ...

    def fund(self, member_id: int, loan_id: int, shares: int, idempotency_key: str) -> int:
        """Fund shares from the wallet; returns the amount lent. Same key, same funding."""
        ...

    def portfolio(self, member_id: int) -> PortfolioView:
        """Stakes counted by state, and the money figures."""
        ...

    def deposit(self, member_id: int, phone: str, amount: int, idempotency_key: str) -> None:
        """Queue an M-Pesa prompt to top up the wallet."""
        ...

    def withdraw(self, member_id: int, phone: str, amount: int, idempotency_key: str) -> None:
        """Pay wallet money out to M-Pesa (held at once), within the daily limit."""
        ...

    def repayment_sms(self, member_id: int) -> str:
        """How the lender hears of repayments: "digest" (one SMS a day) or "each"."""
        ...

    def set_repayment_sms(self, member_id: int, choice: str) -> None:
        """Choose "digest" or "each"."""
        ...


@runtime_checkable
class ProvidesLenderServices(Protocol):
    """A borrower-services object that can also serve the lender menus (e.g. a test fake)."""

    def lender_services(self) -> LenderServices:
        ...


def lender_services_for(services: Any) -> LenderServices:
    """The lender port beside the borrower port the engine was given for this request.

    The domain adapter (or a test fake) provides it; the domain's shares the borrower
    adapter's session, so one request keeps one transaction.
    """
    if isinstance(services, ProvidesLenderServices):
        return services.lender_services()
    raise LenderRefused("service_unavailable")
