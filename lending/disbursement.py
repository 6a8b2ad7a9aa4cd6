"""Disbursement: a funded loan is paid out once, then its real schedule starts.

Ledger at completion (key `disbursement:{loan_id}`): Dr loan_principal amount /
Cr mobile-money float net / Cr fee income upfront fee / Cr insurance pool the
credit-life premium, when the product carries cover (`lending.cover`); the B2C
payout is then the net less the premium. The lenders' money moved into the
loan's participation when they funded it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

import ledger
from core.clock import as_utc
from ledger import FEE_INCOME, MOBILE_MONEY_FLOAT, credit, debit, loan_principal
from lending import cover, notifications
from lending.disclosure import quote
from lending.errors import LendingError
from lending.lifecycle import lock_loan, transition
from lending.loans import store_quote
from lending.localtime import local_date
from lending.models import ACTIVE, DISBURSING, FUNDED, Loan

PAYMENTS = "payments"


@dataclass(frozen=True, slots=True)
class DisbursementOrder:
    """What payments needs to send the money (B2C) to the borrower."""

    loan_id: int
    reference: str
    phone: str
    amount_net: int
    idempotency_key: str


def payout_key(loan: Loan) -> str:
    """`b2c:{reference}`; a retry after a failed payout gets `b2c:{reference}:{attempt}`."""
    base = f"b2c:{loan.reference}"
    return base if loan.payout_attempts <= 1 else f"{base}:{loan.payout_attempts}"


def cash_paid_out(loan: Loan) -> int:
    """What the B2C payout sends: the net disbursed less any credit-life premium."""
    return loan.net_disbursed - loan.credit_life_premium


def start_disbursement(session: Session, loan_id: int, *, actor: str) -> DisbursementOrder:
    """Funded -> disbursing; the order to pay out. Any other state is refused."""
    loan = lock_loan(session, loan_id)
    if loan.status != FUNDED:
        raise LendingError("not_funded", f"loan {loan.reference} is {loan.status}")
    transition(session, loan, DISBURSING, actor=actor, reason="payout requested")
    loan.payout_attempts += 1
    return DisbursementOrder(
        loan_id=loan.id, reference=loan.reference, phone=loan.borrower.phone,
        amount_net=cash_paid_out(loan), idempotency_key=payout_key(loan),
    )


def complete_disbursement(
    session: Session, loan_id: int, *, receipt: str, occurred_at: datetime
) -> Loan:
    """The money reached the borrower: disbursing -> active, schedule from that day."""
    loan = lock_loan(session, loan_id)
    if loan.status != DISBURSING:
        if loan.disbursed_at is not None:  # a repeated confirmation changes nothing
            return loan
        raise LendingError("not_disbursing", f"loan {loan.reference} is {loan.status}")
    occurred_at = as_utc(occurred_at)
    start = local_date(occurred_at)
    store_quote(session, loan, quote(loan.product.to_terms(), loan.amount, loan.term, start))
    loan.start_date, loan.disbursed_at = start, occurred_at
    _post_disbursement(session, loan, receipt, occurred_at)
    transition(session, loan, ACTIVE, actor=PAYMENTS, reason=f"paid out, receipt {receipt}")
    first = loan.installments[0]
    notifications.loan_disbursed(session, loan, first.principal + first.interest, first.due_date)
    return loan


def _post_disbursement(session: Session, loan: Loan, receipt: str, at: datetime) -> None:
    premium = loan.credit_life_premium
    port = cover.cover_port() if premium else None
    ledger.post(
        session, f"disbursement:{loan.id}", "loan_disbursement",
        [debit(loan_principal(loan.id), loan.amount),
         credit(MOBILE_MONEY_FLOAT, cash_paid_out(loan)),
         credit(FEE_INCOME, loan.upfront_fee),
         *([credit(port.pool, premium)] if port else [])],
        currency=loan.currency, loan_id=loan.id, member_id=loan.borrower_id,
        description=f"Loan {loan.reference} paid out",
        meta={"receipt": receipt, "loan_reference": loan.reference,
              "amount": cash_paid_out(loan), "fee": loan.upfront_fee, "premium": premium},
        occurred_at=at,
    )
    if port is not None:
        port.cover_started(session, loan)


def fail_disbursement(session: Session, loan_id: int, *, reason: str) -> Loan:
    """The payout failed and no money left: disbursing -> funded, ready to try again."""
    loan = lock_loan(session, loan_id)
    if loan.status == FUNDED:  # the failure was already recorded
        return loan
    if loan.status != DISBURSING:  # fundraising -> funded is legal, but not from here
        raise LendingError("not_disbursing", f"loan {loan.reference} is {loan.status}")
    transition(session, loan, FUNDED, actor=PAYMENTS, reason=reason or "payout failed")
    return loan

