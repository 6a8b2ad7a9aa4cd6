"""Payment intents: each money movement we ask M-Pesa for, recorded with the order to ask.

Every function here runs in the caller's transaction and never calls a
provider: the intent and its outbox item ("mpesa.stk_push", "mpesa.b2c") are
written together, so a request either exists with its order to send or not at
all. That keeps the USSD request path local and fast (DESIGN principle 6).

Accounting at request time: a lender withdrawal is held at once
(Dr lender wallet / Cr withdrawals in flight) so it cannot be spent twice.
Everything else is posted when M-Pesa confirms (`payments.settlement`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from core import outbox, runtime
from core.clock import utcnow
from core.phones import InvalidPhoneNumber, mask_phone, normalize_phone
from ledger import credit, debit, lender_wallet
from payments.accounts import withdrawals_in_flight
from payments.config import config
from payments.kinds import EXTRA
from payments.models import (
    AWAITING_APPROVAL,
    CANCELLED,
    DEPOSIT,
    DISBURSEMENT,
    OPEN_STATUSES,
    PENDING,
    REPAYMENT,
    REQUESTED,
    WITHDRAWAL,
    PaymentIntent,
)
from payments.models import REVERSAL as REVERSAL_KIND
from payments.providers import simswap
from payments.settlement import undo_payout

logger = logging.getLogger(__name__)

QUEUE = "payments"
STK_PUSH, B2C, STATUS_QUERY, REVERSAL = (
    "mpesa.stk_push", "mpesa.b2c", "mpesa.status_query", "mpesa.reversal")

SIM_SWAP_CHECKS: list[Callable[[str], bool]] = []
"""Checks run just before a payout is sent; each answers True when the SIM changed recently.

A flagged payout waits for an operator (`approve_payout`) instead of going out:
a fresh SIM swap is how mobile-money fraud usually starts. A check that raises
counts as flagged. They run in the outbox handler, never on the request path,
because a check may call a telco API; an approved payout is not checked again.
"""


class PaymentError(ValueError):
    """A payment request we refuse; `code` is stable for the edges to map."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


def _find_by_key(session: Session, key: str) -> PaymentIntent | None:
    return session.scalar(select(PaymentIntent).where(PaymentIntent.idempotency_key == key))


def lock_intent(session: Session, intent_id: int) -> PaymentIntent:
    """The intent with its row lock held for the rest of the transaction."""
    intent = session.get(PaymentIntent, intent_id, with_for_update=True, populate_existing=True)
    if intent is None:
        raise LookupError(f"no payment intent {intent_id}")
    return intent


def _checked_phone(phone: str) -> str:
    try:
        return normalize_phone(phone, runtime.current().settings.default_region)
    except InvalidPhoneNumber as exc:
        raise PaymentError("invalid_phone", f"{mask_phone(phone)} is not a phone number") from exc


def _checked_amount(amount: int) -> int:
    # M-Pesa moves whole shillings only; refusing here beats a PermanentError later.
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise PaymentError("invalid_amount", "amounts are positive integer minor units")
    if amount % 100:
        raise PaymentError("invalid_amount", "M-Pesa moves whole shillings")
    return amount


def _same_request(existing: PaymentIntent, kind: str, amount: int) -> PaymentIntent:
    if existing.kind != kind or existing.amount != amount:
        raise PaymentError("idempotency_conflict",
                           f"{existing.idempotency_key} was used for another payment")
    return existing


def _new_intent(session: Session, *, kind: str, phone: str, amount: int, key: str,
                reference: str, member_id: int | None, loan_id: int | None,
                deadline: datetime) -> PaymentIntent:
    now = utcnow()
    intent = PaymentIntent(
        kind=kind, member_id=member_id, loan_id=loan_id, phone=phone, amount=amount,
        currency=runtime.current().settings.currency, reference=reference[:40],
        idempotency_key=key, status=PENDING, deadline_at=deadline, status_queries=0,
        created_at=now,
    )
    session.add(intent)
    session.flush()
    return intent


# --- collections: STK push -----------------------------------------------------------------


def request_repayment(
    session: Session, *, member_id: int, loan_id: int, phone: str, amount: int,
    idempotency_key: str, reference: str,
) -> PaymentIntent:
    """Ask the borrower's phone to pay `amount` towards a loan (an STK push, via the outbox).

    Lending's `lending.settlement.request_repayment` is the use case; it names the loan.
    """
    existing = _find_by_key(session, idempotency_key)
    if existing is not None:
        return _same_request(existing, REPAYMENT, amount)
    phone, amount = _checked_phone(phone), _checked_amount(amount)
    _refuse_if_prompt_open(session, loan_id)
    return _request_stk(session, kind=REPAYMENT, member_id=member_id, loan_id=loan_id,
                        phone=phone, amount=amount, key=idempotency_key,
                        reference=reference)


def request_deposit(
    session: Session, *, member_id: int, phone: str, amount: int, idempotency_key: str
) -> PaymentIntent:
    """Ask a lender's phone to top up their wallet (an STK push, via the outbox)."""
    existing = _find_by_key(session, idempotency_key)
    if existing is not None:
        return _same_request(existing, DEPOSIT, amount)
    return _request_stk(session, kind=DEPOSIT, member_id=member_id, loan_id=None,
                        phone=_checked_phone(phone), amount=_checked_amount(amount),
                        key=idempotency_key, reference=f"WALLET{member_id}"[:12])


def request_collection(
    session: Session, *, kind: str, member_id: int, phone: str, amount: int,
    idempotency_key: str, reference: str,
) -> PaymentIntent:
    """Ask a phone to pay us for a kind another domain registered (`payments.kinds`)."""
    _registered(kind, "collection")
    existing = _find_by_key(session, idempotency_key)
    if existing is not None:
        return _same_request(existing, kind, amount)
    return _request_stk(session, kind=kind, member_id=member_id, loan_id=None,
                        phone=_checked_phone(phone), amount=_checked_amount(amount),
                        key=idempotency_key, reference=reference[:12])


def request_payout(
    session: Session, *, kind: str, member_id: int, phone: str, amount: int,
    idempotency_key: str, reference: str, hold: Callable[[PaymentIntent], object],
) -> PaymentIntent:
    """Pay a registered kind out by B2C, with the payout guards of a lender withdrawal.

    `hold(intent)` posts the entry that takes the money aside at request time (so it
    cannot be paid out twice); it runs in the same savepoint as the intent, so a
    refusal it raises (`ledger.InsufficientFunds`) leaves nothing behind. The payout
    then waits for an operator above the approval threshold, and the B2C handler
    holds it on a SIM swap, as every payout.
    """
    _registered(kind, "payout")
    existing = _find_by_key(session, idempotency_key)
    if existing is not None:
        return _same_request(existing, kind, amount)
    phone, amount = _checked_phone(phone), _checked_amount(amount)
    with session.begin_nested():
        intent = _new_intent(session, kind=kind, phone=phone, amount=amount,
                             key=idempotency_key, reference=reference[:12],
                             member_id=member_id, loan_id=None,
                             deadline=utcnow() + config().b2c_deadline)
        intent.originator_conversation_id = f"mkopo-{kind}-{intent.id}"[:80]
        hold(intent)
    route_payout(session, intent)
    return intent


def _registered(kind: str, direction: str) -> None:
    if kind not in EXTRA or EXTRA[kind].direction != direction:
        raise PaymentError("unknown_kind", f"{kind} is not a registered {direction}")


def _request_stk(session: Session, *, kind: str, member_id: int, loan_id: int | None,
                 phone: str, amount: int, key: str, reference: str) -> PaymentIntent:
    # The deadline covers the outbox dispatch and the customer typing the PIN.
    deadline = utcnow() + config().stk_deadline
    intent = _new_intent(session, kind=kind, phone=phone, amount=amount, key=key,
                         reference=reference, member_id=member_id, loan_id=loan_id,
                         deadline=deadline)
    outbox.add(session, STK_PUSH, f"stk:{intent.id}", {"intent_id": intent.id}, queue=QUEUE)
    logger.info("%s intent %s for %s queued", kind, intent.id, mask_phone(phone))
    return intent


def _refuse_if_prompt_open(session: Session, loan_id: int) -> None:
    """One prompt at a time per loan; a stale one (past its deadline) does not block."""
    open_prompt = session.scalar(select(PaymentIntent.id).where(
        PaymentIntent.kind == REPAYMENT, PaymentIntent.loan_id == loan_id,
        PaymentIntent.status.in_((PENDING, REQUESTED)),
        PaymentIntent.deadline_at > utcnow()).limit(1))
    if open_prompt is not None:
        raise PaymentError("payment_pending", "a payment prompt is already on its way")


# --- payouts: B2C ----------------------------------------------------------------------------


def request_withdrawal(
    session: Session, *, member_id: int, phone: str, amount: int, idempotency_key: str
) -> PaymentIntent:
    """Pay a lender out of their wallet; the money is held now so it cannot be spent twice.

    Raises `ledger.InsufficientFunds` (changing nothing) when the wallet
    does not hold `amount`.
    """
    existing = _find_by_key(session, idempotency_key)
    if existing is not None:
        return _same_request(existing, WITHDRAWAL, amount)
    phone, amount = _checked_phone(phone), _checked_amount(amount)
    with session.begin_nested():
        intent = _new_intent(session, kind=WITHDRAWAL, phone=phone, amount=amount,
                             key=idempotency_key, reference=f"WITHDRAW{member_id}"[:12],
                             member_id=member_id, loan_id=None,
                             deadline=utcnow() + config().b2c_deadline)
        intent.originator_conversation_id = f"mkopo-wd-{intent.id}"
        ledger.post(
            session, f"withdrawal-hold:{intent.id}", "withdrawal_hold",
            [debit(lender_wallet(member_id), amount),
             credit(withdrawals_in_flight(member_id), amount)],
            currency=intent.currency, member_id=member_id,
            description="Withdrawal to M-Pesa requested", meta={"intent_id": intent.id},
        )
    route_payout(session, intent)
    return intent


def open_intent_for_loan(session: Session, kind: str, loan_id: int) -> PaymentIntent | None:
    """An intent of `kind` for the loan that is still under way, if there is one."""
    return session.scalar(select(PaymentIntent).where(
        PaymentIntent.kind == kind, PaymentIntent.loan_id == loan_id,
        PaymentIntent.status.in_(OPEN_STATUSES)).limit(1))


def request_loan_payout(
    session: Session, *, loan_id: int, member_id: int | None, phone: str, amount: int,
    key: str, reference: str,
) -> PaymentIntent:
    """Pay a loan out by B2C (lending's `start_loan_payout` decides when); `key` travels as
    Daraja's OriginatorConversationID."""
    intent = _new_intent(
        session, kind=DISBURSEMENT, phone=phone, amount=amount, key=key, reference=reference,
        member_id=member_id, loan_id=loan_id, deadline=utcnow() + config().b2c_deadline)
    intent.originator_conversation_id = key
    route_payout(session, intent)
    return intent


def route_payout(session: Session, intent: PaymentIntent) -> None:
    """Send a payout now, or park it for an operator when it is above the approval threshold."""
    if intent.amount > runtime.current().settings.payout_approval_threshold:
        hold_for_approval(intent, "above the approval threshold")
        return
    queue_b2c(session, intent)


def hold_for_approval(intent: PaymentIntent, reason: str) -> None:
    """Park a payout until an operator approves or rejects it."""
    intent.status, intent.result_desc = AWAITING_APPROVAL, reason[:300]
    logger.info("payout intent %s awaits approval: %s", intent.id, reason)


def sim_swap_hold_reason(phone: str) -> str | None:
    """Why a payout to `phone` must wait for an operator (a recent SIM swap), or None.

    Runs in the B2C outbox handler only: the provider is a network call. A check
    that fails holds the payout too: an unknown answer must hold money, not send it.
    """
    for check in SIM_SWAP_CHECKS:
        try:
            if check(phone):
                return "SIM swap check flagged the phone"
        except Exception:  # noqa: BLE001 - an unknown answer must hold the money, not send it
            logger.warning("SIM swap check failed for %s; holding the payout", mask_phone(phone),
                           exc_info=True)
            return "SIM swap check failed; confirm with the member"
    try:
        changed = simswap.recent_swap(phone)
    except Exception:  # noqa: BLE001 - the same: no answer holds the payout
        logger.warning("SIM swap provider failed for %s; holding the payout", mask_phone(phone),
                       exc_info=True)
        return "SIM swap check failed; confirm with the member"
    if changed is None:
        return None
    days = runtime.current().settings.sim_swap_hold_days
    return f"SIM swapped on {changed:%d %b %Y} (within {days} days); confirm with the member"


def sim_swapped(phone: str) -> bool:
    """Whether a payout to the phone must wait because of a (possible) recent SIM swap."""
    return sim_swap_hold_reason(phone) is not None


def queue_b2c(session: Session, intent: PaymentIntent) -> None:
    """Order the B2C payment through the outbox; once, and once more after an approval."""
    intent.status = PENDING
    intent.deadline_at = utcnow() + config().b2c_deadline
    # A payout held by the handler (SIM swap) already used its first key.
    key = f"b2c:{intent.id}" if intent.approved_by is None else f"b2c:{intent.id}:approved"
    outbox.add(session, B2C, key, {"intent_id": intent.id}, queue=QUEUE)


def approve_payout(session: Session, intent_id: int, actor: str) -> PaymentIntent:
    """An operator lets a held payout go; approving twice changes nothing."""
    intent = lock_intent(session, intent_id)
    if intent.status != AWAITING_APPROVAL:
        if intent.approved_by is not None:
            return intent
        raise PaymentError("not_awaiting_approval", f"intent {intent_id} is {intent.status}")
    intent.approved_by, intent.approved_at = actor[:80], utcnow()
    queue_b2c(session, intent)
    logger.info("payout intent %s approved by %s", intent_id, actor)
    return intent


def reject_payout(session: Session, intent_id: int, actor: str, reason: str) -> PaymentIntent:
    """An operator stops a held payout: the loan goes back to funded, a withdrawal is released."""
    intent = lock_intent(session, intent_id)
    if intent.status == CANCELLED:
        return intent
    if intent.status != AWAITING_APPROVAL:
        raise PaymentError("not_awaiting_approval", f"intent {intent_id} is {intent.status}")
    intent.status, intent.settled_at = CANCELLED, utcnow()
    intent.result_desc = f"rejected by {actor}: {reason}"[:300]
    undo_payout(session, intent, reason=f"payout rejected: {reason}")
    return intent


# --- reversals -------------------------------------------------------------------------------


def request_reversal(
    session: Session, *, receipt: str, amount: int, reason: str, actor: str,
    idempotency_key: str, phone: str | None = None,
) -> PaymentIntent:
    """Ask M-Pesa to give a customer's payment back (an operator's decision, via the outbox)."""
    existing = _find_by_key(session, idempotency_key)
    if existing is not None:
        return _same_request(existing, REVERSAL_KIND, amount)
    intent = _new_intent(session, kind=REVERSAL_KIND, phone=_checked_phone(phone) if phone else "",
                         amount=_checked_amount(amount), key=idempotency_key,
                         reference=receipt, member_id=None, loan_id=None,
                         deadline=utcnow() + config().b2c_deadline)
    intent.originator_conversation_id = f"mkopo-rev-{intent.id}"
    intent.original_receipt = receipt
    intent.approved_by, intent.approved_at = actor[:80], utcnow()
    intent.result_desc = reason[:300]
    outbox.add(session, REVERSAL, f"reversal:{intent.id}", {"intent_id": intent.id},
               queue=QUEUE)
    return intent
