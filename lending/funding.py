"""P2P funding in shares: lenders fund a loan from their wallets until it is fully funded.

Ledger: funding is Dr lender_wallet / Cr loan_participation (the lender's money
now stands behind the loan); a refund is the mirror image. A loan is never
overfunded: the loan row is locked while the remaining amount is checked.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from core import outbox
from core.clock import utcnow
from ledger import InsufficientFunds, credit, debit, lender_wallet, loan_participation
from lending import notifications
from lending.disclosure import quote
from lending.errors import LendingError
from lending.lifecycle import lock_loan, transition
from lending.loans import store_quote
from lending.localtime import today
from lending.models import EXPIRED, FUNDED, FUNDRAISING, Loan, LoanFunding, Member

SYSTEM = "system"


def remaining_amount(loan: Loan) -> int:
    """What the loan still needs from lenders."""
    return loan.amount - loan.funded_amount


def shares_left(loan: Loan) -> int:
    """How many shares are still open; the last one may be smaller than a full share."""
    unit = loan.product.share_unit
    return -(-remaining_amount(loan) // unit)


def fund_loan(
    session: Session, *, loan_id: int, lender_id: int, shares: int, idempotency_key: str
) -> LoanFunding:
    """Fund `shares` of a loan from the lender's wallet; the same key funds once."""
    if not isinstance(shares, int) or isinstance(shares, bool) or shares < 1:
        raise LendingError("invalid_shares", "fund at least one share", field="shares")
    existing = _by_key(session, idempotency_key)
    if existing is not None:
        return _same_funding(existing, loan_id, lender_id, shares)
    loan = lock_loan(session, loan_id)
    # a concurrent call with the same key may have committed while we waited for the lock
    existing = _by_key(session, idempotency_key)
    if existing is not None:
        return _same_funding(existing, loan_id, lender_id, shares)
    _check_can_fund(session, loan, lender_id)
    funding = _record_funding(session, loan, lender_id, shares, idempotency_key)
    if remaining_amount(loan) == 0:
        _mark_funded(session, loan, actor=f"lender:{lender_id}")
    return funding


def _by_key(session: Session, key: str) -> LoanFunding | None:
    if not key or len(key) > 120:
        raise LendingError("invalid_key", "an idempotency key of 1-120 characters is required")
    return session.scalar(select(LoanFunding).where(LoanFunding.key == key))


def _same_funding(funding: LoanFunding, loan_id: int, lender_id: int, shares: int) -> LoanFunding:
    if (funding.loan_id, funding.lender_id, funding.shares) != (loan_id, lender_id, shares):
        raise LendingError("key_conflict", "this key was used for another funding")
    return funding


def _check_can_fund(session: Session, loan: Loan, lender_id: int) -> None:
    if loan.status != FUNDRAISING:
        raise LendingError("not_fundraising", f"loan {loan.reference} is {loan.status}")
    if loan.fundraising_deadline is not None and utcnow() >= loan.fundraising_deadline:
        raise LendingError("fundraising_closed", "the funding window has closed")
    if lender_id == loan.borrower_id:
        raise LendingError("own_loan", "a member cannot fund their own loan")
    lender = session.get(Member, lender_id)
    if lender is None or not lender.is_lender or lender.status == "suspended":
        raise LendingError("not_a_lender", f"member {lender_id} cannot lend")


def _record_funding(
    session: Session, loan: Loan, lender_id: int, shares: int, key: str
) -> LoanFunding:
    """Insert the stake and move the money; nothing stays if the wallet is short."""
    if shares > shares_left(loan):
        raise LendingError("overfunded", f"only {shares_left(loan)} shares are left")
    amount = min(shares * loan.product.share_unit, remaining_amount(loan))
    funding = LoanFunding(
        loan_id=loan.id, lender_id=lender_id, shares=shares, amount=amount, key=key,
        principal_repaid=0, interest_earned=0, principal_lost=0, recovered=0,
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            loan.fundings.append(funding)
            ledger.post(
                session, f"funding:{key}", "loan_funding",
                [debit(lender_wallet(lender_id), amount),
                 credit(loan_participation(loan.id), amount)],
                currency=loan.currency, loan_id=loan.id, member_id=lender_id,
                description=f"Funded loan {loan.reference}",
                meta={"loan_reference": loan.reference, "shares": shares, "amount": amount},
            )
    except InsufficientFunds:
        raise LendingError("insufficient_funds", "the wallet does not hold enough") from None
    loan.funded_amount += amount
    return funding


DISBURSE_LOAN = "loan.disburse"
"""The outbox kind that asks payments to pay a fully funded loan out."""


def _mark_funded(session: Session, loan: Loan, *, actor: str) -> None:
    """Fully funded: ask payments to disburse (in this same transaction)."""
    transition(session, loan, FUNDED, actor=actor, reason="fully funded")
    notifications.loan_funded(session, loan)
    outbox.add(
        session, DISBURSE_LOAN, f"disburse:{loan.id}", {"loan_id": loan.id}, queue="payments"
    )


def refund_fundings(session: Session, loan: Loan, *, reason: str) -> int:
    """Give every stake back to its lender's wallet; returns how many were refunded."""
    refunded = 0
    for funding in loan.fundings:
        if funding.refunded_at is not None:
            continue
        ledger.post(
            session, f"funding-refund:{funding.id}", "loan_funding_refund",
            [debit(loan_participation(loan.id), funding.amount),
             credit(lender_wallet(funding.lender_id), funding.amount)],
            currency=loan.currency, loan_id=loan.id, member_id=funding.lender_id,
            description=f"Refund for loan {loan.reference}: {reason}"[:300],
            meta={"loan_reference": loan.reference, "amount": funding.amount},
        )
        funding.refunded_at = utcnow()
        refunded += 1
    loan.funded_amount = 0
    return refunded


# --- the end of the funding window ------------------------------------------------------


def expire_fundraising(session: Session, now: datetime | None = None) -> int:
    """Close every funding window that has passed; returns how many loans were closed."""
    now = now or utcnow()
    due = session.scalars(
        select(Loan.id)
        .where(Loan.status == FUNDRAISING, Loan.fundraising_deadline <= now)
        .order_by(Loan.id)
    ).all()
    closed = 0
    for loan_id in due:
        loan = lock_loan(session, loan_id)
        # re-checked under the lock: a last share may have funded it meanwhile
        if loan.status == FUNDRAISING and loan.fundraising_deadline is not None:
            _close_window(session, loan)
            closed += 1
    return closed


def _close_window(session: Session, loan: Loan) -> None:
    """All-or-nothing refunds; flexible keeps what was raised if it reaches the minimum."""
    product = loan.product
    if product.funding_mode == "flexible" and loan.funded_amount >= product.min_amount:
        raised = loan.funded_amount
        store_quote(session, loan, quote(product.to_terms(), raised, loan.term, today()))
        _mark_funded(session, loan, actor=SYSTEM)
        return
    refund_fundings(session, loan, reason="funding window closed")
    transition(session, loan, EXPIRED, actor=SYSTEM, reason="funding window closed")
