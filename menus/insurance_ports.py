"""What the Bima (insurance) menus need from the domain: one Protocol, plain dataclasses.

Amounts are integer minor units. Every mutating method is one unit of work: it
commits before returning, or raises `InsuranceRefused` having changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, runtime_checkable

from menus.ports import ServiceRefused

INSURANCE_REASONS = (
    "already_covered",  # buy: hospital cash in force, or its premium prompt still open
    "not_covered",  # claim: no cover on that date
    "claim_open",  # claim: a claim on this loan is already open
    "cap_reached",  # claim: the period's hospital nights are all claimed
    "payment_pending",  # buy: an M-Pesa prompt is already on its way
    "service_unavailable",  # anything else
)


class InsuranceRefused(ServiceRefused):
    """The domain said no, for a reason the member can be told (one of INSURANCE_REASONS)."""


@dataclass(frozen=True, slots=True)
class PolicyLine:
    id: int
    kind: str  # "credit_life" | "hospital_cash"
    status: str  # "active" | "pending_payment" | "unpaid" | "settled"
    loan_reference: str | None = None
    ends_on: date | None = None
    nights_left: int = 0
    claimable: bool = False  # in force today, so a claim can be filed on it


@dataclass(frozen=True, slots=True)
class PlanView:
    premium: int
    cover_days: int
    nightly_benefit: int
    max_nights: int
    currency: str = "KES"


@dataclass(frozen=True, slots=True)
class ClaimLine:
    id: int
    kind: str  # the policy's kind
    status: str  # "filed" | "rejected" | "approved" | "paying" | "paid"
    amount: int
    currency: str = "KES"


class InsuranceServices(Protocol):
    """The domain calls the Bima menus make; nothing else."""

    def policies(self, member_id: int) -> list[PolicyLine]:
        """The member's cover, newest first."""
        ...

    def plan(self) -> PlanView:
        """What hospital cash costs and pays."""
        ...

    def buy_hospital_cash(self, member_id: int, idempotency_key: str) -> None:
        """Queue the premium's M-Pesa prompt to the member's phone."""
        ...

    def file_claim(self, member_id: int, policy_id: int, cause: str, days_ago: int,
                   nights: int, idempotency_key: str) -> ClaimLine:
        """File a claim on one of the member's policies, for an operator to decide."""
        ...

    def claims(self, member_id: int, limit: int) -> list[ClaimLine]:
        """The member's latest claims, newest first."""
        ...


@runtime_checkable
class ProvidesInsuranceServices(Protocol):
    """A borrower-services object that can also serve the Bima menus (e.g. a test fake)."""

    def insurance_services(self) -> InsuranceServices:
        ...


def insurance_services_for(services: Any) -> InsuranceServices:
    """The Bima port beside the borrower port the engine was given for this request.

    The domain adapter (or a test fake) provides it; the domain's shares the borrower
    adapter's session, so one request keeps one transaction.
    """
    if isinstance(services, ProvidesInsuranceServices):
        return services.insurance_services()
    raise InsuranceRefused("service_unavailable")
