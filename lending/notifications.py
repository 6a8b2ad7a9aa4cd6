"""The SMS a lending event sends, recorded in the same transaction as the event.

A repayment records one outbox item instead, and its messages are written by a
job right after the money commits (see `repayment_recorded`).

Each message goes only to the member it concerns (amounts owed never reach
anyone else) and is keyed by the event, so replaying an event never sends twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy.orm import Session

import ledger
from core import outbox
from core.money import Money
from core.outbox import OutboxItem, handles
from lending.models import Loan, LoanFunding, Member, Repayment
from messaging.outbound import queue_sms


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


REPAYMENT_MESSAGES = "lending.repayment_sms"


def repayment_recorded(
    session: Session, loan: Loan, repayment: Repayment, next_due: tuple[date, int] | None,
    lender_totals: dict[int, int],
) -> None:
    """Queue the borrower's receipt and each lender's credit, to be written after commit.

    A repayment is a money transaction that locks its loan: writing one SMS for
    the borrower and one per lender inside it (each looked up, rendered, checked
    against opt-outs and queued) would keep it open for several times longer
    than the money takes. So the transaction records one outbox item, with what
    was true at that moment (which message, the balance and next due date this
    payment left, each lender's share); a job writes the messages from it, once.
    """
    receipt = None
    if loan.status == "repaid":
        message = "loan_repaid"
    elif repayment.overpayment >= 100:  # a few cents over (M-Pesa moves whole shillings)
        message = "overpayment"
    elif next_due is not None:
        from lending.queries import balance_summary  # queries reads the ledger, as we do

        message = "repayment_receipt"
        # The balance as this payment left it: the job may run after the next payment.
        owed = balance_summary(session, loan.borrower_id, loan)
        receipt = {"balance": owed.outstanding, "next_amount": owed.next_due_amount,
                   "next_date": (owed.next_due_date or next_due[0]).isoformat()}
    else:
        message = None
    outbox.add(session, REPAYMENT_MESSAGES, f"repayment-sms:{repayment.id}", {
        "repayment_id": repayment.id,
        "message": message,
        "receipt": receipt,
        "lenders": {str(lender): share for lender, share in sorted(lender_totals.items())
                    if share > 0},
    }, queue="sms")


@handles(REPAYMENT_MESSAGES)
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
