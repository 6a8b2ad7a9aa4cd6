"""What the USSD menus need from the domain: one Protocol, plain dataclasses, one error family.

The real adapter (`menus.adapters.DomainBorrowerServices`) binds these to
`lending/` and `payments/`. Amounts are integer minor units. Every mutating
method is one unit of work: it commits before returning, or raises having
changed nothing, because the menus persist their own state in Redis right after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

# Member statuses the menus branch on; anything else is treated as inactive.
PENDING, ACTIVE = "pending", "active"

REMINDER_CHOICES = ("before_and_due", "due_day", "off")
"""SMS reminder preferences: a few days before and on the due date, due date only, none."""

TICKET_KINDS = ("complaint", "hardship")

PURPOSES = ("business", "school_fees", "farming", "medical", "household", "other")

REASON_CODES = (
    "already_registered",  # register: this phone already has a member
    "id_in_use",  # register: the national ID belongs to another member
    "not_verified",  # the member is still pending verification
    "account_inactive",  # suspended, closed, or otherwise not allowed to borrow
    "pin_locked",  # any private call while the PIN is locked
    "loan_active",  # apply/products: one active loan at a time
    "application_pending",  # apply/products: an application is already under review
    "over_limit",  # quote/apply: above the member's credit limit
    "below_minimum",  # quote/apply: below the product minimum
    "term_not_allowed",  # quote/apply: the product does not offer that term
    "product_unavailable",  # quote/apply: unknown or withdrawn product
    "no_active_loan",  # repayment_options/request_repayment: nothing to repay
    "amount_too_high",  # request_repayment: more than the outstanding balance
    "payment_pending",  # request_repayment: another prompt is already on its way
    "service_unavailable",  # anything temporary; also the fallback for unknown codes
)


class ServiceRefused(Exception):
    """The domain said no, for a reason the borrower can be told (one of REASON_CODES)."""

    def __init__(self, reason_code: str) -> None:
        super().__init__(reason_code)
        self.reason_code = reason_code


@dataclass(frozen=True, slots=True)
class MemberView:
    """A borrower as the menus see them."""

    id: int
    first_name: str
    language: str  # "en" | "sw"
    status: str  # PENDING | ACTIVE | anything else = inactive
    locked_until: datetime | None = None  # aware UTC; PIN locked while in the future
    reminders: str = "before_and_due"  # one of REMINDER_CHOICES
    account: str | None = None
    """The account she pays into (her current loan's reference, else her phone) as read when
    the session opened: the help screen shows it without another look-up; None: not read."""


UNLOCK_YEAR = 9999
"""A lock "until" a date in this year lasts until a field partner or operator lifts it."""


def needs_unlock(locked_until: datetime | None) -> bool:
    """Locked until someone unlocks it, rather than for a while."""
    return locked_until is not None and locked_until.year >= UNLOCK_YEAR


@dataclass(frozen=True, slots=True)
class PinResult:
    """The outcome of a PIN check: ok, or wrong with tries left, or locked until a time."""

    ok: bool
    tries_left: int = 0
    locked_until: datetime | None = None  # set when this attempt (or an earlier one) locked it


@dataclass(frozen=True, slots=True)
class BalanceView:
    """The member's current loan and limit."""

    credit_limit: int
    currency: str = "KES"
    loan_reference: str | None = None  # None: no loan at all
    loan_status: str | None = None  # "pending" | "approved" | "active" | "in_arrears" | "repaid"
    outstanding: int = 0
    next_due_date: date | None = None
    next_due_amount: int = 0


@dataclass(frozen=True, slots=True)
class ProductView:
    """A loan product this member may apply for, with bounds already capped by their limit."""

    code: str
    name: str
    min_amount: int
    max_amount: int
    terms: tuple[int, ...]  # allowed numbers of installments
    frequency: str  # "weekly" | "fortnightly" | "monthly"
    currency: str = "KES"


@dataclass(frozen=True, slots=True)
class QuoteView:
    """The cost-of-credit disclosure shown before acceptance."""

    amount: int
    term: int
    frequency: str
    installment: int  # the regular installment (the first one)
    total_repayable: int
    cost_of_credit: int
    apr: str  # percent, one decimal, e.g. "41.3"
    upfront_fee: int = 0
    currency: str = "KES"
    credit_life_premium: int = 0  # deducted at payout beside the fee; 0: no cover


@dataclass(frozen=True, slots=True)
class RepayView:
    """What the member can pay now on their loan."""

    loan_reference: str
    next_installment: int
    full_balance: int
    currency: str = "KES"


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One transaction on the mini statement; `amount` is positive money in or out."""

    on: date
    kind: str  # "disbursement" | "repayment" | "fee" | "refund" | "adjustment"
    amount: int
    reference: str = ""
    currency: str = "KES"


@dataclass(frozen=True, slots=True)
class HelpView:
    """How to pay and whom to call."""

    paybill: str
    account: str  # the loan reference, or the phone number when there is no loan
    support_phone: str


class BorrowerServices(Protocol):
    """The domain calls the borrower menus make; nothing else."""

    def find_member(self, phone: str) -> MemberView | None:
        """The member registered on this E.164 phone, if any."""
        ...

    def register(
        self, phone: str, name: str, national_id: str, pin: str, language: str, consent: bool
    ) -> MemberView:
        """Create a member pending verification; consent is to the terms and data use."""
        ...

    def verify_pin(self, member_id: int, pin: str) -> PinResult:
        """Check a PIN; three wrong in a row lock it (persisted): 30 minutes, then 24
        hours, then until unlocked (`needs_unlock`)."""
        ...

    def balance(self, member_id: int) -> BalanceView:
        """Loan status, outstanding, next due date and amount, credit limit."""
        ...

    def products(self, member_id: int) -> list[ProductView]:
        """Products the member may apply for now; refuses with loan_active etc."""
        ...

    def quote(self, member_id: int, product_code: str, amount: int, term: int) -> QuoteView:
        """The disclosure for this request; refuses with over_limit, term_not_allowed …"""
        ...

    def apply(
        self, member_id: int, product_code: str, amount: int, term: int, purpose: str,
        idempotency_key: str,
    ) -> str:
        """Submit an application; returns the loan reference. Same key, same reference."""
        ...

    def repayment_options(self, member_id: int) -> RepayView:
        """Next installment and full balance; refuses with no_active_loan."""
        ...

    def request_repayment(self, member_id: int, amount: int, idempotency_key: str) -> None:
        """Queue an M-Pesa prompt through the outbox; the same key is requested once."""
        ...

    def statement(self, member_id: int, limit: int = 5) -> list[StatementLine]:
        """The latest transactions, newest first."""
        ...

    def change_pin(self, member_id: int, current_pin: str, new_pin: str) -> PinResult:
        """Change the PIN if `current_pin` is right; a wrong one counts towards lockout."""
        ...

    def set_language(self, member_id: int, language: str) -> None:
        """Remember the member's language ("en" | "sw")."""
        ...

    def set_reminders(self, member_id: int, preference: str) -> None:
        """Remember the SMS reminder preference (one of REMINDER_CHOICES)."""
        ...

    def open_ticket(self, member_id: int, kind: str, text: str) -> str:
        """Open a complaint or hardship ticket (TICKET_KINDS); returns its reference."""
        ...

    def help_info(self, member_id: int | None) -> HelpView:
        """Paybill, account to pay to and the support line; works for strangers too."""
        ...
