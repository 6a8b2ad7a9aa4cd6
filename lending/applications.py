"""Loan applications: apply (idempotent), approve into fundraising, reject, cancel."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import utcnow
from lending import notifications
from lending.autolend import request_autolend
from lending.disclosure import Quote, quote
from lending.errors import LendingError
from lending.funding import refund_fundings
from lending.lifecycle import can_move, lock_loan, transition
from lending.loans import store_quote
from lending.localtime import today
from lending.models import (
    APPROVED,
    CANCELLED,
    FUNDRAISING,
    MEMBER_ACTIVE,
    OPEN_STATUSES,
    PENDING_REVIEW,
    REJECTED,
    Loan,
    Member,
    Product,
)
from lending.products import ProductError

REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read over the phone
REFERENCE_LENGTH = 5

AffordabilityCheck = Callable[[Session, Member, Product, Quote], str | None]
"""Returns a reason to refuse, or None; e.g. an income-to-installment ratio from a bureau."""
AFFORDABILITY_CHECKS: list[AffordabilityCheck] = []


def new_reference(session: Session) -> str:
    """A short, unused, phone-friendly loan reference such as MK4F7Q2."""
    while True:
        ref = "MK" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
        if session.scalar(select(Loan.id).where(Loan.reference == ref)) is None:
            return ref


def apply_for_loan(
    session: Session, *, member_id: int, product_code: str, amount: int, term: int,
    purpose: str, idempotency_key: str, start: date | None = None,
) -> Loan:
    """Apply for a loan: validated, disclosed, pending review. The same key, the same loan."""
    existing = _by_key(session, idempotency_key)
    if existing is not None:
        return _same_application(existing, member_id, product_code, amount, term)
    member = _lock_borrower(session, member_id)
    product = _open_product(session, product_code)
    offer = _quote(product, amount, term, start or today())
    _check_exposure(session, member, product, amount)
    _check_affordability(session, member, product, offer)
    loan = Loan(
        reference=new_reference(session), borrower_id=member.id, product_id=product.id,
        field_partner_id=member.field_partner_id, purpose=_purpose(purpose),
        sector=member.sector, status=PENDING_REVIEW, currency=product.currency,
        funded_amount=0, application_key=idempotency_key, start_date=None,
        created_at=utcnow(),
    )
    winner = _insert(session, loan, offer)
    if winner is not loan:
        return _same_application(winner, member_id, product_code, amount, term)
    notifications.application_received(session, loan)
    return loan


def _by_key(session: Session, key: str) -> Loan | None:
    if not key or len(key) > 120:
        raise LendingError("invalid_key", "an idempotency key of 1-120 characters is required")
    return session.scalar(select(Loan).where(Loan.application_key == key))


def _same_application(
    loan: Loan, member_id: int, product_code: str, amount: int, term: int
) -> Loan:
    """A retried application returns its loan; the key reused for another is a conflict."""
    same = (loan.borrower_id, loan.product.code, loan.term) == (member_id, product_code, term)
    # a flexible loan may have been resized to what was raised, so the amount is not compared
    # once fundraising has closed
    if not same or (loan.status in (PENDING_REVIEW, APPROVED) and loan.amount != amount):
        raise LendingError("key_conflict", "this key was used for another application")
    return loan


def _lock_borrower(session: Session, member_id: int) -> Member:
    """The applicant, locked so two applications at once cannot both pass the limits."""
    return _check_borrower(session.scalar(
        select(Member).where(Member.id == member_id).with_for_update()), member_id)


def _borrower(session: Session, member_id: int) -> Member:
    return _check_borrower(session.get(Member, member_id), member_id)


def _check_borrower(member: Member | None, member_id: int) -> Member:
    if member is None:
        raise LendingError("unknown_member", f"no member {member_id}")
    if member.status != MEMBER_ACTIVE:
        code = "not_verified" if member.status == "pending_verification" else "member_inactive"
        raise LendingError(code, "the member cannot borrow now")
    if not member.is_borrower:
        raise LendingError("not_a_borrower", "this member does not borrow")
    return member


def _open_product(session: Session, code: str) -> Product:
    product = session.scalar(select(Product).where(Product.code == code))
    if product is None:
        raise LendingError("unknown_product", f"no product {code}", field="product_code")
    if not product.active:
        raise LendingError("product_inactive", f"{code} is closed to applications")
    return product


def _quote(product: Product, amount: int, term: int, start: date) -> Quote:
    try:
        return quote(product.to_terms(), amount, term, start)
    except ProductError as exc:
        raise LendingError(f"invalid_{exc.field}", exc.message, field=exc.field) from None


def _purpose(purpose: str) -> str:
    text = (purpose or "").strip()
    if not text or len(text) > 160:
        raise LendingError("invalid_purpose", "1 to 160 characters", field="purpose")
    return text


@dataclass(frozen=True)
class Offer:
    """A product a borrower may apply for now; `headroom` is what her credit limit leaves."""

    product: Product
    headroom: int

    @property
    def max_amount(self) -> int:
        return min(self.product.max_amount, self.headroom)

    @property
    def available(self) -> bool:
        return self.max_amount >= self.product.min_amount


def offers_for(session: Session, member_id: int) -> list[Offer]:
    """The products a borrower may apply for now, each up to what she may borrow on it.

    The same rules as `apply_for_loan`: an active borrower, no more open loans than the
    product allows (`max_active_loans`), all open loans within her credit limit.
    """
    member = _borrower(session, member_id)
    count, total = _open_exposure(session, member.id)
    offers, full = [], False
    for product in session.scalars(
            select(Product).where(Product.active.is_(True)).order_by(Product.code)):
        if count >= product.max_active_loans:
            full = True
            continue
        offer = Offer(product, member.credit_limit - total)
        if offer.available:
            offers.append(offer)
    if not offers:
        raise _open_loan_refusal(session, member.id) if full else LendingError(
            "over_credit_limit", "the credit limit leaves too little for any product")
    return offers


def offer_for(session: Session, member_id: int, product_code: str) -> Offer:
    """The offer of one product (refused as `offers_for` and `apply_for_loan` would)."""
    member = _borrower(session, member_id)
    product = _open_product(session, product_code)
    count, total = _open_exposure(session, member.id)
    if count >= product.max_active_loans:
        raise _open_loan_refusal(session, member.id)
    return Offer(product, member.credit_limit - total)


def _open_exposure(session: Session, member_id: int) -> tuple[int, int]:
    """How many loans the member has open, and their principal."""
    count, total = session.execute(
        select(func.count(Loan.id), func.coalesce(func.sum(Loan.amount), 0))
        .where(Loan.borrower_id == member_id, Loan.status.in_(OPEN_STATUSES))
    ).one()
    return int(count), int(total)


def _open_loan_refusal(session: Session, member_id: int) -> LendingError:
    pending = session.scalar(select(Loan.id).where(
        Loan.borrower_id == member_id, Loan.status == PENDING_REVIEW).limit(1))
    if pending is not None:
        return LendingError("application_pending", "an application is waiting for review")
    return LendingError("active_loan_exists", "repay the current loan first")


def _check_exposure(session: Session, member: Member, product: Product, amount: int) -> None:
    """One open loan unless the product allows more; all open loans within the limit."""
    count, total = _open_exposure(session, member.id)
    if count >= product.max_active_loans:
        raise LendingError("active_loan_exists", "repay the current loan first")
    if int(total) + amount > member.credit_limit:
        raise LendingError(
            "over_credit_limit", f"the limit allows {member.credit_limit - int(total)}",
            field="amount",
        )


def _check_affordability(session: Session, member: Member, product: Product, offer: Quote) -> None:
    for check in AFFORDABILITY_CHECKS:
        reason = check(session, member, product, offer)
        if reason:
            raise LendingError("unaffordable", reason)


def _insert(session: Session, loan: Loan, offer: Quote) -> Loan:
    """Insert the application with its quote; a concurrent one with the same key wins."""
    try:
        with session.begin_nested():
            session.add(loan)
            store_quote(session, loan, offer)
    except IntegrityError:
        winner = session.scalar(select(Loan).where(Loan.application_key == loan.application_key))
        if winner is None:
            raise
        return winner
    return loan


# --- review ---------------------------------------------------------------------------


def approve_loan(session: Session, loan_id: int, *, actor: str) -> Loan:
    """Approve and open fundraising until now + the product's funding window."""
    loan = lock_loan(session, loan_id)
    transition(session, loan, APPROVED, actor=actor)
    loan.fundraising_deadline = utcnow() + timedelta(days=loan.product.funding_window_days)
    transition(session, loan, FUNDRAISING, actor=actor, reason="open for funding")
    notifications.application_approved(session, loan)
    request_autolend(session, key=f"autolend:loan:{loan.id}", loan_id=loan.id)
    return loan


def reject_loan(session: Session, loan_id: int, *, actor: str, reason: str) -> Loan:
    """Turn an application down, saying why."""
    if not (reason or "").strip():
        raise LendingError("reason_required", "say why the loan is rejected", field="reason")
    loan = lock_loan(session, loan_id)
    transition(session, loan, REJECTED, actor=actor, reason=reason)
    notifications.application_rejected(session, loan)
    return loan


def cancel_loan(session: Session, loan_id: int, *, actor: str, reason: str = "") -> Loan:
    """Withdraw a loan before it is funded; any funding raised goes back to the lenders."""
    loan = lock_loan(session, loan_id)
    if not can_move(loan.status, CANCELLED):
        raise LendingError("illegal_transition", f"a {loan.status} loan cannot be cancelled")
    refund_fundings(session, loan, reason="loan cancelled")
    transition(session, loan, CANCELLED, actor=actor, reason=reason or "cancelled")
    return loan
