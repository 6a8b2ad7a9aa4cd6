"""The borrower menus' port, bound to the lending and payments domain.

Each mutating method is its own unit of work: it commits before returning or
raises having changed nothing, because the engine saves its Redis state right
after the call (see `menus.ports`). Domain refusals become `ServiceRefused`
with one of the port's reason codes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from sqlalchemy.orm import Session

from core import runtime
from core.db import DriverRead
from core.money import round_up_to_whole as whole_shillings
from impact import panel
from lending import members, notifications, queries
from lending import settlement as loan_settlement
from lending.applications import apply_for_loan, offer_for, offers_for
from lending.disclosure import quote
from lending.errors import LendingError
from lending.localtime import today
from lending.models import (
    MEMBER_ACTIVE,
    PENDING_REVIEW,
    REPAYABLE_STATUSES,
    Loan,
    Member,
    Product,
)
from lending.products import ProductError
from menus.beyond_adapter import DomainBeyondServices
from menus.domain_adapter import DomainAdapter
from menus.insurance_adapter import DomainInsuranceServices
from menus.lender_adapter import DomainLenderServices
from menus.ports import (
    ACTIVE,
    PENDING,
    BalanceView,
    HelpView,
    MemberView,
    PinResult,
    ProductView,
    QuoteView,
    RepayView,
    ServiceRefused,
    StatementLine,
)
from menus.savings_adapter import DomainSavingsServices
from payments import intents

REASONS = {
    "already_registered": "already_registered",
    "id_in_use": "id_in_use",
    "not_verified": "not_verified",
    "member_inactive": "account_inactive",
    "member_suspended": "account_inactive",
    "not_a_borrower": "account_inactive",
    "unknown_member": "account_inactive",
    "active_loan_exists": "loan_active",
    "over_credit_limit": "over_limit",
    "invalid_term": "term_not_allowed",
    "unknown_product": "product_unavailable",
    "product_inactive": "product_unavailable",
    "not_repayable": "no_active_loan",
    "amount_too_high": "amount_too_high",
    "application_pending": "application_pending",
    "payment_pending": "payment_pending",
}
"""Domain codes (lending and payments) to the menus' reason codes; others: unavailable."""

BALANCE_STATUS = {
    PENDING_REVIEW: "pending", "approved": "approved", "fundraising": "approved",
    "funded": "approved", "disbursing": "approved", "active": "active",
    "defaulted": "in_arrears", "repaid": "repaid",
}
STATEMENT_KIND = {"disbursement": "disbursement", "repayment": "repayment",
                  "refund": "refund", "penalty": "fee"}
# Savings, insurance and lenders' wallet entries keep their ledger kind: each has its own
# label on the statement (menus/flows/loans.py), never "Correction".
STATEMENT_KIND.update({kind: kind for kind in (
    "funding", "write_off", "recovery",
    "savings_deposit", "chama_contribution", "savings_interest", "savings_withdrawal_hold",
    "savings_withdrawal", "savings_withdrawal_release", "chama_payout_hold", "chama_payout",
    "chama_payout_release", "insurance_premium", "insurance_claim_hold", "insurance_claim_paid",
    "insurance_claim_release", "wallet_deposit", "withdrawal_hold", "wallet_withdrawal",
    "withdrawal_release")})
REMINDERS_ON, REMINDERS_OFF = "before_and_due", "off"


class DomainBorrowerServices(DomainAdapter):
    """`menus.ports.BorrowerServices` over the real domain, in one request's session."""

    refusals = (LendingError, intents.PaymentError)
    read_refusals = (LendingError,)

    def __init__(self, session: Session | Callable[[], Session]) -> None:
        super().__init__(session)
        # Members this request has loaded. The session's identity map holds objects weakly,
        # so without a reference the member checked by the PIN step would be read again by
        # the screen right after it (balance, products) in the same request.
        self._members: dict[int, Member] = {}
        # The survey waiting for each member read at the dial (None: none), carried by the
        # member's own look-up: the survey port answers the dial's offer from it.
        self._dial_offers: dict[int, int | None] = {}

    def refused(self, error: Exception) -> ServiceRefused:
        return ServiceRefused(REASONS.get(getattr(error, "code", ""), "service_unavailable"))

    # --- the other menus' ports, in this request's session -------------------------

    def lender_services(self) -> DomainLenderServices:
        return DomainLenderServices(self.session)

    def savings_services(self) -> DomainSavingsServices:
        return DomainSavingsServices(self.session)

    def insurance_services(self) -> DomainInsuranceServices:
        return DomainInsuranceServices(self.session)

    def beyond_services(self) -> DomainBeyondServices:
        return DomainBeyondServices(self.session, self._dial_offers)

    # --- members -------------------------------------------------------------------

    def find_member(self, phone: str) -> MemberView | None:
        """The member, the account she pays into and the survey waiting for her: one query
        (the dial's), the survey's look-up riding on the member's."""
        try:
            e164 = members.e164(phone)
        except LendingError:
            return None
        found = queries.member_at_dial(self.session, e164, _dial_read())
        if found is None:
            return None
        self._dial_offers[found.id] = found.extra["survey_offer"]
        return MemberView(
            id=found.id, first_name=found.first_name, language=found.language,
            status=_view_status(found.status),
            locked_until=found.pin_locked_until,
            reminders=REMINDERS_ON if found.reminders_enabled else REMINDERS_OFF,
            account=found.account)

    def register(self, phone: str, name: str, national_id: str, pin: str, language: str,
                 consent: bool) -> MemberView:
        first, _, last = name.strip().partition(" ")
        with self._unit():
            member = members.register_member(
                self.session, phone=phone, first_name=first, last_name=last or None,
                national_id=national_id, pin=pin, language=language, consent=consent)
            _notify("registration_received", self.session, member)
        return _member_view(member)

    def verify_pin(self, member_id: int, pin: str) -> PinResult:
        with self._unit(commit=lambda: check.changed):
            check = members.check_pin(self.session, member_id, pin)
            self._keep(check.member)  # the row it locked: the balance reads it, no query
        # A right PIN with nothing to reset wrote nothing: no commit, so the screen after it
        # (the balance) reads in the same transaction, under the PIN check's row lock, which
        # the request's session releases as it closes. Anything written is committed here.
        return PinResult(check.ok, check.tries_left, check.locked_until)

    def change_pin(self, member_id: int, current_pin: str, new_pin: str) -> PinResult:
        with self._unit():
            check = members.change_pin(self.session, member_id, current_pin, new_pin)
        return PinResult(check.ok, check.tries_left, check.locked_until)

    def set_language(self, member_id: int, language: str) -> None:
        with self._unit():
            members.set_language(self.session, member_id, language)

    def set_reminders(self, member_id: int, preference: str) -> None:
        with self._unit():
            members.set_reminders(self.session, member_id, preference != REMINDERS_OFF)

    def open_ticket(self, member_id: int, kind: str, text: str) -> str:
        with self._unit():
            ticket = members.open_ticket(self.session, member_id, kind, text)
        return f"T{ticket.id:05d}"

    def help_info(self, member_id: int | None) -> HelpView:
        settings = runtime.current().settings
        account = ""
        if member_id is not None:
            # the loan's reference alone: its schedule (a second query) is not shown here
            account = (queries.current_loan_reference(self.session, member_id)
                       or queries.member_phone(self.session, member_id) or "")
        return HelpView(settings.paybill_number, account, settings.support_phone)

    # --- loans -----------------------------------------------------------------------

    def balance(self, member_id: int) -> BalanceView:
        summary = self._call(lambda: queries.balance_summary(self.session, member_id))
        status = BALANCE_STATUS.get(summary.status)
        if status == "active" and summary.days_past_due > 0:
            status = "in_arrears"
        return BalanceView(
            credit_limit=summary.credit_limit, currency=summary.currency,
            loan_reference=summary.reference if status else None, loan_status=status,
            outstanding=summary.outstanding, next_due_date=summary.next_due_date,
            next_due_amount=summary.next_due_amount,
        )

    def products(self, member_id: int) -> list[ProductView]:
        offers = self._call(lambda: offers_for(self.session, member_id))
        return [ProductView(o.product.code, o.product.name, o.product.min_amount, o.max_amount,
                            tuple(o.product.terms), o.product.frequency, o.product.currency)
                for o in offers]

    def quote(self, member_id: int, product_code: str, amount: int, term: int) -> QuoteView:
        product_offer = self._call(lambda: offer_for(self.session, member_id, product_code))
        product = product_offer.product
        if amount > product_offer.headroom:
            raise ServiceRefused("over_limit")
        try:
            offer = quote(product.to_terms(), amount, term, today())
        except ProductError as exc:
            raise ServiceRefused(_product_reason(exc, amount, product)) from None
        return QuoteView(
            amount=amount, term=term, frequency=product.frequency,
            installment=offer.installments[0].total, total_repayable=offer.total_repayable,
            cost_of_credit=offer.total_cost_of_credit, apr=str(offer.apr),
            upfront_fee=offer.upfront_fee, currency=product.currency,
            credit_life_premium=offer.credit_life_premium,
        )

    def apply(self, member_id: int, product_code: str, amount: int, term: int, purpose: str,
              idempotency_key: str) -> str:
        with self._unit():
            loan = apply_for_loan(
                self.session, member_id=member_id, product_code=product_code, amount=amount,
                term=term, purpose=purpose, idempotency_key=idempotency_key)
        return loan.reference

    def repayment_options(self, member_id: int) -> RepayView:
        """Amounts in whole shillings (all M-Pesa moves), rounded up; cents over are credit."""
        loan = self._repayable_loan(member_id)
        summary = queries.balance_summary(self.session, member_id, loan)
        full = summary.outstanding
        next_amount = min(summary.next_due_amount or full, full)
        return RepayView(loan.reference, whole_shillings(next_amount), whole_shillings(full),
                         loan.currency)

    def request_repayment(self, member_id: int, amount: int, idempotency_key: str) -> None:
        with self._unit():
            loan_settlement.request_borrower_repayment(
                self.session, member_id=member_id, amount=amount,
                idempotency_key=idempotency_key)

    def statement(self, member_id: int, limit: int = 5) -> list[StatementLine]:
        return [
            StatementLine(line.on, STATEMENT_KIND.get(line.kind, "adjustment"), line.amount,
                          line.reference)
            for line in queries.statement_lines(self.session, member_id, limit)
        ]

    # --- helpers ---------------------------------------------------------------------

    def _keep(self, member: Member | None) -> Member | None:
        if member is not None:
            self._members[member.id] = member
        return member

    def _repayable_loan(self, member_id: int) -> Loan:
        loan = queries.current_loan(self.session, member_id, fundings=False)
        if loan is None or loan.status not in REPAYABLE_STATUSES:
            raise ServiceRefused("no_active_loan")
        return loan


@functools.cache
def _dial_read() -> DriverRead:
    """The member's look-up as she dials, carrying the impact survey waiting for her."""
    return DriverRead(queries.dial_statement(survey_offer=panel.offer_on_dial_column(Member.id)))


def _view_status(status: str) -> str:
    """The port's name for a member's status (the others are the same words)."""
    return {MEMBER_ACTIVE: ACTIVE, "pending_verification": PENDING}.get(status, status)


def _member_view(member: Member) -> MemberView:
    return MemberView(
        id=member.id, first_name=member.first_name, language=member.language,
        status=_view_status(member.status),
        locked_until=member.pin_locked_until,
        reminders=REMINDERS_ON if member.reminders_enabled else REMINDERS_OFF,
    )


def _product_reason(exc: ProductError, amount: int, product: Product) -> str:
    if exc.field == "term":
        return "term_not_allowed"
    if exc.field == "amount":
        return "below_minimum" if amount < product.min_amount else "over_limit"
    return "service_unavailable"


def _notify(event: str, session: Session, subject: object) -> None:
    """Send the event's SMS when the notifications module is wired in."""
    getattr(notifications, event)(session, subject)
