"""Where M-Pesa money meets a loan: the one place a payment becomes a repayment.

Payments moves money with M-Pesa and settles each intent once, under its row
lock; what the money means for a loan or a lender's wallet is decided here and
registered with payments (`register`, called by the wiring of web and worker):

- a repayment prompt paid (STK): `record_repayment`, key `repayment:{CheckoutRequestID}`;
  a loan that refuses it (repaid meanwhile, written off …) raises `Unapplied`, and
  payments parks the money in suspense with a break for an operator;
- a repayment prompt not paid: an SMS telling the borrower nothing was taken;
- a paybill payment (C2B): the loan its account names, by reference or phone;
- a wallet top-up paid: Dr float / Cr the lender's wallet, then auto-lend;
- a loan's payout: started when the loan is fully funded (`loan.disburse`),
  completed on B2C success, undone (loan back to funded) on failure;
- money in suspense assigned to a loan by an operator (`repay_from_suspense`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

import ledger
from core.money import Money, round_up_to_whole
from core.outbox import OutboxItem
from ledger import MOBILE_MONEY_FLOAT, SUSPENSE, credit, debit, lender_wallet
from lending import queries
from lending.autolend import request_autolend
from lending.disbursement import complete_disbursement, fail_disbursement, start_disbursement
from lending.errors import LendingError
from lending.loans import outstanding_balance
from lending.matching import match_loan, match_loan_id
from lending.models import MEMBER_ACTIVE, REPAYABLE_STATUSES, Loan, Member
from lending.repayments import RepaymentResult, record_repayment
from messaging.outbound import queue_sms
from payments import intents, kinds
from payments.models import DEPOSIT, DISBURSEMENT, REPAYMENT, PaymentIntent

logger = logging.getLogger(__name__)


def register() -> None:
    """Tell payments which kinds of money lending owns, and that it reads paybill accounts."""
    kinds.register(kinds.IntentKind(REPAYMENT, kinds.COLLECTION, "repayment:",
                                    on_success=apply_stk_repayment,
                                    on_failure=tell_payment_failed))
    kinds.register(kinds.IntentKind(DEPOSIT, kinds.COLLECTION, "deposit:",
                                    on_success=credit_wallet_deposit))
    kinds.register(kinds.IntentKind(DISBURSEMENT, kinds.PAYOUT, "disbursement:",
                                    on_success=complete_loan_payout,
                                    on_undo=undo_loan_payout))
    kinds.register_paybill(kinds.Paybill(knows=knows_account, apply=apply_paybill_payment))


# --- asking for money -------------------------------------------------------------------------


def request_repayment(
    session: Session, *, member_id: int, loan_id: int, phone: str, amount: int,
    idempotency_key: str,
) -> PaymentIntent:
    """Prompt the borrower's phone to pay `amount` towards the loan, under its reference.

    Refusals are payments' (`PaymentError`: `no_such_loan`, `payment_pending`, …).
    """
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise intents.PaymentError("no_such_loan", f"no loan {loan_id}")
    return intents.request_repayment(
        session, member_id=member_id, loan_id=loan_id, phone=phone, amount=amount,
        idempotency_key=idempotency_key, reference=loan.reference)


def request_borrower_repayment(
    session: Session, *, member_id: int, amount: int, idempotency_key: str,
) -> PaymentIntent:
    """A borrower asks to repay `amount` of her current loan (USSD, SMS and the API call this).

    In whole shillings, rounded up (M-Pesa moves no cents), never more than she owes.
    Refusals: `LendingError` (`member_inactive`, `not_repayable`, `amount_too_high`) or
    payments' `PaymentError` (`payment_pending`, …).
    """
    member = session.get(Member, member_id)
    if member is None or member.status != MEMBER_ACTIVE:
        raise LendingError("member_inactive", "the member cannot repay through us now")
    loan = queries.current_loan(session, member_id, fundings=False)
    if loan is None or loan.status not in REPAYABLE_STATUSES:
        raise LendingError("not_repayable", "no loan to repay")
    amount = round_up_to_whole(amount, loan.currency)
    if amount > round_up_to_whole(outstanding_balance(loan), loan.currency):
        raise LendingError("amount_too_high", "more than the loan's balance", field="amount")
    return request_repayment(session, member_id=member_id, loan_id=loan.id, phone=member.phone,
                             amount=amount, idempotency_key=idempotency_key)


# --- repayments -------------------------------------------------------------------------------


def apply_stk_repayment(session: Session, intent: PaymentIntent, key: str, at: datetime,
                        receipt: str | None) -> None:
    """A repayment prompt was paid: the loan takes it, or payments parks it (`Unapplied`)."""
    assert intent.loan_id is not None
    try:
        # No savepoint: a refusal is raised before the repayment writes anything.
        record_repayment(session, loan_id=intent.loan_id, amount=intent.amount, key=key,
                         source="stk", receipt=receipt, received_at=at)
    except LendingError as exc:
        raise kinds.Unapplied(exc.code, exc.message, reason=f"loan refused it: {exc.code}",
                              loan_id=intent.loan_id) from None


def tell_payment_failed(session: Session, intent: PaymentIntent) -> None:
    """SMS the borrower that no money was taken."""
    member = session.get(Member, intent.member_id) if intent.member_id else None
    language = member.language if member is not None else "en"
    queue_sms(session, intent.phone, "payment_failed", language,
              {"amount": Money(intent.amount, intent.currency), "reference": intent.reference},
              f"payment-failed:{intent.id}")


def knows_account(session: Session, account: str | None) -> bool:
    """Whether a paybill account names a loan (C2B validation with `reject_unknown`)."""
    return match_loan(session, account) is not None


def apply_paybill_payment(session: Session, *, account: str | None, amount: int, key: str,
                          receipt: str, received_at: datetime | None) -> None:
    """A paybill payment repays the loan its account names; else `Unapplied` (to suspense)."""
    matched = match_loan_id(session, account)
    if matched is None:
        raise kinds.Unapplied("no_loan", reason="no loan matches the account")
    loan_id, reference = matched
    try:
        # No savepoint (two round trips a payment): a refusal is raised before the
        # repayment writes anything, and a failure after that aborts the transaction.
        record_repayment(session, loan_id=loan_id, amount=amount, key=key, source="c2b",
                         receipt=receipt, received_at=received_at)
    except LendingError as exc:
        raise kinds.Unapplied(exc.code, exc.message, loan_id=loan_id,
                              reason=f"loan {reference} refused it: {exc.code}") from None


def repay_from_suspense(session: Session, *, loan_id: int, amount: int, key: str,
                        receipt: str | None) -> RepaymentResult:
    """An operator assigns money held in suspense to a loan (raises `LendingError`)."""
    with session.begin_nested():
        return record_repayment(session, loan_id=loan_id, amount=amount, key=key,
                                source="suspense", receipt=receipt, from_account=SUSPENSE)


# --- lenders' wallets -------------------------------------------------------------------------


def credit_wallet_deposit(session: Session, intent: PaymentIntent, key: str, at: datetime,
                          receipt: str | None) -> None:
    """A top-up was paid: Dr float / Cr the lender's wallet, then lend it if they asked to."""
    lender_id = _member(intent)
    ledger.post(
        session, f"deposit:{key}", "wallet_deposit",
        [debit(MOBILE_MONEY_FLOAT, intent.amount), credit(lender_wallet(lender_id), intent.amount)],
        currency=intent.currency, member_id=intent.member_id, occurred_at=at,
        description="Wallet top-up by M-Pesa", meta={"receipt": receipt, "intent_id": intent.id},
    )
    request_autolend(session, key=f"autolend:deposit:{intent.id}", lender_id=lender_id)


def _member(intent: PaymentIntent) -> int:
    if intent.member_id is None:
        raise ValueError(f"intent {intent.id} has no member")
    return intent.member_id


# --- a loan's payout --------------------------------------------------------------------------


def disburse_loan(session: Session, item: OutboxItem) -> None:
    """A loan is fully funded: create its payout intent (sent now, or held for approval)."""
    intent = start_loan_payout(session, int(item.payload["loan_id"]))
    if intent is not None:
        logger.info("loan %s payout intent %s is %s", intent.loan_id, intent.id, intent.status)


def start_loan_payout(session: Session, loan_id: int) -> PaymentIntent | None:
    """Turn a fully funded loan into a disbursement intent.

    Returns the open intent if there already is one; None if the loan is not
    waiting for a payout (cancelled, or already paid out).
    """
    current = intents.open_intent_for_loan(session, DISBURSEMENT, loan_id)
    if current is not None:
        return current
    try:
        order = start_disbursement(session, loan_id, actor="payments")
    except LendingError as exc:
        loan = session.get(Loan, loan_id)
        if loan is not None and loan.disbursed_at is not None:
            # The outbox delivers at least once: a repeat for a loan paid out is no news.
            logger.info("loan %s already paid out", loan_id)
        else:
            logger.warning("loan %s not paid out: %s", loan_id, exc.code)
        return None
    loan = session.get(Loan, loan_id)
    return intents.request_loan_payout(
        session, loan_id=loan_id, member_id=loan.borrower_id if loan is not None else None,
        phone=order.phone, amount=order.amount_net, key=order.idempotency_key,
        reference=order.reference)


def complete_loan_payout(session: Session, intent: PaymentIntent, key: str, at: datetime,
                         receipt: str | None) -> None:
    """The borrower has the money: the loan is disbursed (Dr principal / Cr float, fee)."""
    assert intent.loan_id is not None and receipt is not None
    complete_disbursement(session, intent.loan_id, receipt=receipt, occurred_at=at)


def undo_loan_payout(session: Session, intent: PaymentIntent, reason: str) -> None:
    """The payout never happened: the loan goes back to funded."""
    assert intent.loan_id is not None
    fail_disbursement(session, intent.loan_id, reason=reason)
