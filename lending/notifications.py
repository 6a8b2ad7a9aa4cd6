"""The SMS a lending event sends, recorded in the same transaction as the event.

A repayment renders its receipt and its lenders' credits from the values it
already holds and writes them in a few statements (see `repayment_messages`).

Each message goes only to the member it concerns (amounts owed never reach
anyone else) and is keyed by the event, so replaying an event never sends twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from core.money import Money
from core.outbox import OutboxItem
from lending.models import Loan, LoanFunding, Member, Repayment
from messaging.outbound import Outgoing, prepare, queue_many, queue_sms


def _money(amount: int, loan: Loan | None = None) -> Money:
    return Money(amount, loan.currency if loan is not None else "KES")


def _to_borrower(session: Session, loan: Loan, template: str, key: str, **params: object) -> None:
    borrower = loan.borrower
    queue_sms(session, borrower.phone, template, borrower.language,
              {"first_name": borrower.first_name, "reference": loan.reference, **params},
              key=f"{key}:{loan.id}")


def registration_received(session: Session, member: Member) -> None:
    queue_sms(session, member.phone, "registration_received", member.language,
              {"first_name": member.first_name}, key=f"registered:{member.id}")


def registration_verified(session: Session, member: Member) -> None:
    queue_sms(session, member.phone, "registration_verified", member.language,
              {"first_name": member.first_name}, key=f"verified:{member.id}:{member.verified_at}")


def registration_rejected(session: Session, member: Member) -> None:
    # The operator's reason stays in the audit log: it is free text in the operator's
    # language, and the member's SMS must be in theirs.
    queue_sms(session, member.phone, "registration_rejected", member.language,
              {"first_name": member.first_name}, key=f"rejected:{member.id}:{member.verified_at}")


PIN_LOCK_TEMPLATES = ("pin_locked_30_minutes", "pin_locked_24_hours", "pin_locked_until_unlocked")


def pin_locked(session: Session, member: Member, at: datetime) -> None:
    """Tell the member their PIN is locked, for how long, and how to get it unlocked."""
    template = PIN_LOCK_TEMPLATES[min(member.pin_lock_level, len(PIN_LOCK_TEMPLATES)) - 1]
    queue_sms(session, member.phone, template, member.language,
              {"first_name": member.first_name}, key=f"pin-locked:{member.id}:{at.isoformat()}")


def pin_unlocked(session: Session, member: Member, at: datetime) -> None:
    queue_sms(session, member.phone, "pin_unlocked", member.language,
              {"first_name": member.first_name}, key=f"pin-unlocked:{member.id}:{at.isoformat()}")


def application_received(session: Session, loan: Loan) -> None:
    _to_borrower(session, loan, "application_received", "applied",
                 amount=_money(loan.amount, loan))


def application_approved(session: Session, loan: Loan) -> None:
    _to_borrower(session, loan, "application_approved", "approved",
                 amount=_money(loan.amount, loan))


def application_rejected(session: Session, loan: Loan) -> None:
    _to_borrower(session, loan, "application_rejected", "rejected")


def loan_funded(session: Session, loan: Loan) -> None:
    """Tell the borrower the money is coming, and each lender that their share is placed."""
    _to_borrower(session, loan, "loan_funded", "funded", amount=_money(loan.amount, loan))
    for lender, amount in _lender_totals(session, loan.fundings):
        queue_sms(session, lender.phone, "lender_loan_funded", lender.language,
                  {"reference": loan.reference, "amount": _money(amount, loan)},
                  key=f"lender-funded:{loan.id}:{lender.id}")


def loan_disbursed(session: Session, loan: Loan, installment: int, first_due: date) -> None:
    _to_borrower(
        session, loan, "loan_disbursed", "disbursed",
        # what reached her phone: the net less any credit-life premium
        amount=_money(loan.net_disbursed - loan.credit_life_premium, loan), count=loan.term,
        installment=_money(installment, loan), frequency=loan.product.frequency,
        first_due=first_due,
    )


@dataclass(frozen=True, slots=True)
class RepaymentNews:
    """What a repayment's borrower is told, as the payment left things."""

    repayment_id: int
    loan_id: int
    borrower_id: int
    reference: str
    currency: str
    borrower_phone: str
    borrower_language: str
    borrower_first_name: str
    amount: int
    overpayment: int
    repaid: bool
    balance: int  # outstanding, net of credit she still holds
    next_due: tuple[date, int] | None  # net of that credit
    at: datetime
    source: str = ""  # how the money came: "insurance" is a credit-life claim settling the loan


@dataclass(frozen=True, slots=True)
class LenderNews:
    """One lender's share of a repayment and the wallet balance it left."""

    lender_id: int
    phone: str
    language: str
    each: bool  # the lender asked for an SMS per repayment (else: the daily digest)
    amount: int
    balance_after: int


def repayment_messages(session: Session, news: RepaymentNews,
                       lenders: Sequence[LenderNews]) -> None:
    """Queue the borrower's receipt, and an SMS for each lender who asked for one per repayment.

    The others hear of it in the daily digest (`lending.digest`), from the lender
    credits the repayment wrote; either way a line shows the balance this payment
    left. Rendered here and written in one statement (`queue_many`), in the
    payment's transaction, so no job has to look anything up again.
    """
    money = partial(Money, currency=news.currency)
    key = f"repayment:{news.repayment_id}"
    messages = [_receipt(session, news, money, key)]
    messages += [
        prepare(lender.phone, "lender_repayment_received", lender.language,
                {"reference": news.reference, "amount": money(lender.amount),
                 "balance": money(lender.balance_after)},
                key=f"lender-repaid:{news.repayment_id}:{lender.lender_id}")
        for lender in lenders if lender.each]
    queue_many(session, messages)


def _receipt(session: Session, news: RepaymentNews, money: Callable[[int], Money],
             key: str) -> Outgoing | None:
    """The borrower's one message about this payment, or None when there is nothing to say."""
    params: dict[str, object] = {"first_name": news.borrower_first_name,
                                 "reference": news.reference}
    if news.repaid and news.source == "insurance":
        # She (or her family) hears that the claim paid it off, not "congratulations".
        template = "loan_settled_by_claim"
    elif news.repaid:
        limit = session.scalar(select(Member.credit_limit).where(Member.id == news.borrower_id))
        template, params["credit_limit"] = "loan_repaid", money(limit or 0)
    elif news.overpayment >= 100:  # a few cents over (M-Pesa moves whole shillings): no news
        template = "overpayment"
        params.update(amount=money(news.amount), excess=money(news.overpayment))
    elif news.next_due is not None:
        template = "repayment_receipt"
        params.update(amount=money(news.amount), balance=money(news.balance),
                      next_amount=money(news.next_due[1]), next_date=news.next_due[0])
    else:
        return None
    return prepare(news.borrower_phone, template, news.borrower_language, params,
                   key=f"{key}:{news.loan_id}")


REPAYMENT_MESSAGES = "lending.repayment_sms"
"""Outbox items of this kind were how repayments queued their SMS before they were written
with the payment; the handler stays so that items queued before an upgrade still go out."""


def write_repayment_messages(session: Session, item: OutboxItem) -> None:
    payload = item.payload
    repayment = session.get_one(Repayment, payload["repayment_id"])
    loan = session.get_one(Loan, repayment.loan_id)
    key = f"repayment:{repayment.id}"
    amount = _money(repayment.amount, loan)
    if payload["message"] == "loan_repaid":
        _to_borrower(session, loan, "loan_repaid", key,
                     credit_limit=_money(loan.borrower.credit_limit, loan))
    elif payload["message"] == "overpayment":
        _to_borrower(session, loan, "overpayment", key, amount=amount,
                     excess=_money(repayment.overpayment, loan))
    elif payload["message"] == "repayment_receipt":
        receipt = payload["receipt"]
        _to_borrower(session, loan, "repayment_receipt", key, amount=amount,
                     balance=_money(receipt["balance"], loan),
                     next_amount=_money(receipt["next_amount"], loan),
                     next_date=date.fromisoformat(receipt["next_date"]))
    for lender_id, share in payload["lenders"].items():
        lender = session.get_one(Member, int(lender_id))
        wallet = ledger.balance(session, ledger.lender_wallet(lender.id))
        queue_sms(session, lender.phone, "lender_repayment_received", lender.language,
                  {"reference": loan.reference, "amount": _money(share, loan),
                   "balance": _money(wallet, loan)},
                  key=f"lender-repaid:{repayment.id}:{lender.id}")


def payment_failed(session: Session, loan: Loan, amount: int, key: str) -> None:
    _to_borrower(session, loan, "payment_failed", f"payment-failed:{key}",
                 amount=_money(amount, loan))


def _lender_totals(
    session: Session, fundings: Iterable[LoanFunding]
) -> list[tuple[Member, int]]:
    """One line per lender, however many times they bought shares."""
    totals: dict[int, int] = {}
    for funding in fundings:
        if funding.refunded_at is None:
            totals[funding.lender_id] = totals.get(funding.lender_id, 0) + funding.amount
    return [(session.get_one(Member, lender_id), amount) for lender_id, amount in totals.items()]
