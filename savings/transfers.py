"""Money in and out of savings over M-Pesa: deposits (STK push) and payouts (B2C).

Requests run in the caller's transaction and never call a provider: they write
a payment intent with its outbox item (`payments.intents`) and a
`SavingsTransfer` saying what the money is for. When M-Pesa answers,
`payments.settlement` calls back here (the kinds are registered with
`payments.kinds` by `install()`, from the process wiring) with the intent's
row lock held, so each outcome is booked once:

- deposit paid: Dr M-Pesa float / Cr the savings account   (`savings-deposit:{CheckoutRequestID}`)
- contribution paid: Dr float / Cr the chama's pool, counted for the round open then (same key)
- withdrawal requested: Dr savings / Cr withdrawal in flight (`savings-hold:{intent}`)
- withdrawal paid: Dr in flight / Cr float                  (`savings-withdrawal:{intent}`)
- withdrawal failed or rejected: Dr in flight / Cr savings   (`savings-release:{intent}`)
- a chama round paid out: the same three with the pool and its in-flight account.
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import ledger
from core.db import insert_once
from core.money import Money
from ledger import MOBILE_MONEY_FLOAT, credit, debit
from lending.localtime import timezone_name, today
from lending.models import Member
from messaging.outbound import queue_sms
from payments import intents, kinds
from payments.models import CANCELLED, FAILED, PaymentIntent
from savings.accounts import membership, owned_account, saver
from savings.chart import chama_paying, chama_pool, savings_account, savings_withdrawing
from savings.errors import SavingsError
from savings.models import (
    CONTRIBUTION,
    DEPOSIT,
    PAYOUT,
    WITHDRAWAL,
    Chama,
    ChamaPayout,
    SavingsAccount,
    SavingsTransfer,
)
from savings.models import FAILED as PAYOUT_FAILED
from savings.models import PAID as PAYOUT_PAID

logger = logging.getLogger(__name__)

SAVINGS_DEPOSIT, SAVINGS_PAYOUT = "savings_deposit", "savings_payout"
"""Payment intent kinds (`payments.kinds`): money in by STK push, money out by B2C."""
DEPOSIT_PREFIX = "savings-deposit:"

MIN_TRANSFER = 1_000  # KES 10: M-Pesa's smallest B2C payment; deposits the same for symmetry
MAX_DEPOSIT = 15_000_000  # KES 150,000: one M-Pesa transaction
DAILY_WITHDRAWAL_LIMIT = 7_000_000  # KES 70,000 per saver per local day, all accounts together


def _check_amount(amount: int, maximum: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise SavingsError("invalid_amount", "an amount in whole minor units", "amount")
    if not MIN_TRANSFER <= amount <= maximum or amount % 100:
        raise SavingsError("invalid_amount", "whole shillings from KES 10 up to the limit",
                           "amount")
    return amount


def _payment(request: object, session: Session, **kwargs: object) -> PaymentIntent:
    """Call a payments intent function; its refusals become savings refusals."""
    try:
        intent: PaymentIntent = request(session, **kwargs)  # type: ignore[operator]
    except intents.PaymentError as exc:
        raise SavingsError(exc.code, str(exc), "amount") from None
    return intent


def _record(session: Session, intent: PaymentIntent, kind: str, member_id: int, *,
            account_id: int | None = None, chama_id: int | None = None,
            round_: int | None = None) -> SavingsTransfer:
    transfer = insert_once(session, SavingsTransfer, dict(
        intent_id=intent.id, kind=kind, member_id=member_id, account_id=account_id,
        chama_id=chama_id, round=round_, amount=intent.amount,
        created_at=intent.created_at), key="intent_id")
    if transfer is None:  # the same request again: its transfer was recorded then
        transfer = transfer_of(session, intent.id)
    return transfer


def transfer_of(session: Session, intent_id: int) -> SavingsTransfer:
    return session.scalars(select(SavingsTransfer)
                           .where(SavingsTransfer.intent_id == intent_id)).one()


# --- deposits --------------------------------------------------------------------------------


def request_deposit(session: Session, *, member_id: int, account_id: int, amount: int,
                    idempotency_key: str) -> PaymentIntent:
    """Prompt the saver's registered phone to pay `amount` into one of their accounts."""
    member = saver(session, member_id)
    account = owned_account(session, member_id, account_id)
    _check_amount(amount, MAX_DEPOSIT)
    intent = _payment(intents.request_collection, session, kind=SAVINGS_DEPOSIT,
                      member_id=member.id, phone=member.phone, amount=amount,
                      idempotency_key=idempotency_key, reference=f"AKIBA{account.id}")
    _record(session, intent, DEPOSIT, member.id, account_id=account.id)
    return intent


def request_contribution(session: Session, *, member_id: int, chama_id: int,
                         idempotency_key: str) -> PaymentIntent:
    """Prompt a chama member's phone for the chama's contribution."""
    member = saver(session, member_id)
    chama = membership(session, chama_id, member_id).chama
    intent = _payment(intents.request_collection, session, kind=SAVINGS_DEPOSIT,
                      member_id=member.id, phone=member.phone, amount=chama.contribution,
                      idempotency_key=idempotency_key, reference=chama.code)
    _record(session, intent, CONTRIBUTION, member.id, chama_id=chama.id)
    return intent


def _deposit_paid(session: Session, intent: PaymentIntent, key: str, at: datetime,
                  receipt: str | None) -> None:
    transfer = transfer_of(session, intent.id)
    meta = {"receipt": receipt, "intent_id": intent.id, "amount": intent.amount}
    if transfer.account_id is not None:
        account = session.get(SavingsAccount, transfer.account_id)
        assert account is not None
        ledger.post(session, f"{DEPOSIT_PREFIX}{key}", "savings_deposit",
                    [debit(MOBILE_MONEY_FLOAT, intent.amount),
                     credit(savings_account(account.id), intent.amount)],
                    currency=intent.currency, member_id=transfer.member_id, occurred_at=at,
                    description=f"Savings deposit: {account.name}",
                    meta={**meta, "account_id": account.id})
        _tell_saver(session, transfer, "savings_deposit_receipt", "savings-receipt")
        return
    assert transfer.chama_id is not None
    chama = lock_chama(session, transfer.chama_id)
    # The round still open when the money arrives: a paid-out round's pot never grows.
    transfer.round = chama.current_round
    ledger.post(session, f"{DEPOSIT_PREFIX}{key}", "chama_contribution",
                [debit(MOBILE_MONEY_FLOAT, intent.amount),
                 credit(chama_pool(chama.id), intent.amount)],
                currency=intent.currency, member_id=transfer.member_id, occurred_at=at,
                description=f"Chama contribution: {chama.name}",
                meta={**meta, "chama_id": chama.id, "round": chama.current_round})


def lock_chama(session: Session, chama_id: int) -> Chama:
    """The chama with its row lock: contributions and payouts of a round take turns."""
    chama = session.get(Chama, chama_id, with_for_update=True, populate_existing=True)
    if chama is None:
        raise SavingsError("unknown_chama", f"no chama {chama_id}", "chama_id")
    return chama


# --- withdrawals -----------------------------------------------------------------------------


def request_withdrawal(session: Session, *, member_id: int, account_id: int, amount: int,
                       idempotency_key: str) -> PaymentIntent:
    """Pay savings out to the saver's registered phone (B2C), with every payout guard.

    The money is held at once (so it cannot be paid twice); a goal cannot be
    withdrawn from before its lock date; the saver's withdrawals of a day are capped;
    a payout above the approval threshold waits for an operator; a SIM swap holds it.
    """
    member = saver(session, member_id)
    account = owned_account(session, member_id, account_id)
    _check_amount(amount, DAILY_WITHDRAWAL_LIMIT)
    if account.lock_until is not None and today() < account.lock_until:
        raise SavingsError("locked", f"locked until {account.lock_until.isoformat()}", "amount")
    # The member's row lock serialises their withdrawals: two at once cannot both fit
    # under the daily limit (the hold itself stops two spending the same shilling).
    session.get(Member, member.id, with_for_update=True)
    existing = session.scalar(select(PaymentIntent)
                              .where(PaymentIntent.idempotency_key == idempotency_key))
    if existing is None and withdrawn_today(session, member.id) + amount > (
            DAILY_WITHDRAWAL_LIMIT):
        raise SavingsError("daily_limit", "above today's withdrawal limit", "amount")

    def hold(intent: PaymentIntent) -> None:
        ledger.post(session, f"savings-hold:{intent.id}", "savings_withdrawal_hold",
                    [debit(savings_account(account.id), amount),
                     credit(savings_withdrawing(account.id), amount)],
                    currency=intent.currency, member_id=member.id,
                    description=f"Savings withdrawal requested: {account.name}",
                    meta={"intent_id": intent.id, "account_id": account.id, "amount": amount})

    try:
        intent = _payment(intents.request_payout, session, kind=SAVINGS_PAYOUT,
                          member_id=member.id, phone=member.phone, amount=amount,
                          idempotency_key=idempotency_key, reference=f"AKIBA{account.id}",
                          hold=hold)
    except ledger.InsufficientFunds:
        raise SavingsError("insufficient_funds", "the account does not hold that much",
                           "amount") from None
    _record(session, intent, WITHDRAWAL, member.id, account_id=account.id)
    return intent


def withdrawn_today(session: Session, member_id: int) -> int:
    """What the saver asked to withdraw since local midnight (failed and cancelled excepted)."""
    midnight = datetime.combine(today(), time(0), ZoneInfo(timezone_name()))
    total = session.scalar(
        select(func.coalesce(func.sum(PaymentIntent.amount), 0))
        .join(SavingsTransfer, SavingsTransfer.intent_id == PaymentIntent.id)
        .where(SavingsTransfer.kind == WITHDRAWAL, SavingsTransfer.member_id == member_id,
               PaymentIntent.created_at >= midnight,
               PaymentIntent.status.not_in((FAILED, CANCELLED))))
    return int(total or 0)


def request_round_payout(session: Session, payout: ChamaPayout, chama: Chama,
                         phone: str) -> PaymentIntent:
    """Pay one recipient's share of a round's pot out of the chama's pool (B2C)."""
    amount, chama_id = payout.amount, chama.id

    def hold(intent: PaymentIntent) -> None:
        ledger.post(session, f"chama-hold:{intent.id}", "chama_payout_hold",
                    [debit(chama_pool(chama_id), amount), credit(chama_paying(chama_id), amount)],
                    currency=intent.currency, member_id=payout.member_id,
                    description=f"Chama {chama.name} round {payout.round} payout",
                    meta={"intent_id": intent.id, "chama_id": chama_id, "round": payout.round,
                          "amount": amount})

    intent = _payment(intents.request_payout, session, kind=SAVINGS_PAYOUT,
                      member_id=payout.member_id, phone=phone, amount=amount,
                      idempotency_key=f"chama:{chama_id}:round:{payout.round}:"
                                      f"{payout.member_id}:{payout.attempts}",
                      reference=chama.code, hold=hold)
    _record(session, intent, PAYOUT, payout.member_id, chama_id=chama_id, round_=payout.round)
    payout.intent_id = intent.id
    return intent


def _payout_paid(session: Session, intent: PaymentIntent, key: str, at: datetime,
                 receipt: str | None) -> None:
    transfer = transfer_of(session, intent.id)
    meta = {"receipt": receipt, "intent_id": intent.id, "amount": intent.amount}
    if transfer.account_id is not None:
        ledger.post(session, f"savings-withdrawal:{intent.id}", "savings_withdrawal",
                    [debit(savings_withdrawing(transfer.account_id), intent.amount),
                     credit(MOBILE_MONEY_FLOAT, intent.amount)],
                    currency=intent.currency, member_id=transfer.member_id, occurred_at=at,
                    description="Savings withdrawal paid to M-Pesa",
                    meta={**meta, "account_id": transfer.account_id})
        _tell_saver(session, transfer, "savings_withdrawal_paid")
        return
    assert transfer.chama_id is not None
    ledger.post(session, f"chama-payout:{intent.id}", "chama_payout",
                [debit(chama_paying(transfer.chama_id), intent.amount),
                 credit(MOBILE_MONEY_FLOAT, intent.amount)],
                currency=intent.currency, member_id=transfer.member_id, occurred_at=at,
                description="Chama payout paid to M-Pesa",
                meta={**meta, "chama_id": transfer.chama_id, "round": transfer.round})
    payout = _payout_row(session, intent.id)
    if payout is not None:
        payout.status, payout.paid_at = PAYOUT_PAID, at
    _tell_chama_payout(session, transfer)


def _payout_undone(session: Session, intent: PaymentIntent, reason: str) -> None:
    transfer = transfer_of(session, intent.id)
    meta = {"intent_id": intent.id, "reason": reason, "amount": intent.amount}
    if transfer.account_id is not None:
        ledger.post(session, f"savings-release:{intent.id}", "savings_withdrawal_release",
                    [debit(savings_withdrawing(transfer.account_id), intent.amount),
                     credit(savings_account(transfer.account_id), intent.amount)],
                    currency=intent.currency, member_id=transfer.member_id,
                    description="Savings withdrawal not paid; back to savings", meta=meta)
        _tell_saver(session, transfer, "savings_withdrawal_failed")
        return
    assert transfer.chama_id is not None
    ledger.post(session, f"chama-release:{intent.id}", "chama_payout_release",
                [debit(chama_paying(transfer.chama_id), intent.amount),
                 credit(chama_pool(transfer.chama_id), intent.amount)],
                currency=intent.currency, member_id=transfer.member_id,
                description="Chama payout not paid; back to the pool", meta=meta)
    payout = _payout_row(session, intent.id)
    if payout is not None:
        payout.status = PAYOUT_FAILED


def _tell_saver(session: Session, transfer: SavingsTransfer, template: str,
                key_prefix: str | None = None) -> None:
    """SMS the saver what became of her money, with the balance it left in that account."""
    member = session.get(Member, transfer.member_id)
    account = session.get(SavingsAccount, transfer.account_id)
    if member is None or account is None:
        return
    balance = ledger.balance(session, savings_account(account.id))
    queue_sms(session, member.phone, template, member.language,
              {"amount": Money(transfer.amount, account.currency), "account": account.name,
               "balance": Money(balance, account.currency)},
              f"{key_prefix or template}:{transfer.intent_id}")


def _tell_chama_payout(session: Session, transfer: SavingsTransfer) -> None:
    """SMS the round's recipient that her share of the pot reached her M-Pesa."""
    member = session.get(Member, transfer.member_id)
    chama = session.get(Chama, transfer.chama_id)
    if member is None or chama is None:
        return
    queue_sms(session, member.phone, "chama_payout_paid", member.language,
              {"chama": chama.name, "amount": Money(transfer.amount, chama.currency),
               "round": transfer.round},
              f"chama_payout_paid:{transfer.intent_id}")


def _payout_row(session: Session, intent_id: int) -> ChamaPayout | None:
    return session.scalar(select(ChamaPayout).where(ChamaPayout.intent_id == intent_id))


def _settle(session: Session, intent: PaymentIntent, key: str, at: datetime,
            receipt: str | None) -> None:
    if intent.kind == SAVINGS_DEPOSIT:
        _deposit_paid(session, intent, key, at, receipt)
    else:
        _payout_paid(session, intent, key, at, receipt)


def install() -> None:
    """Teach payments the savings intent kinds (called by the process wiring)."""
    kinds.register(kinds.IntentKind(SAVINGS_DEPOSIT, kinds.COLLECTION, DEPOSIT_PREFIX,
                                    on_success=_settle))
    kinds.register(kinds.IntentKind(SAVINGS_PAYOUT, kinds.PAYOUT, "savings-payout:",
                                    on_success=_settle, on_undo=_payout_undone))

