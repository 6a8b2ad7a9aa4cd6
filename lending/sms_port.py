"""The lending domain seen from messaging: BAL, REPAY by SMS, and installments to remind.

Installed into `messaging.ports` by `gateway.wiring.wire()` in every process.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from core.money import Money
from lending import queries
from lending import settlement as loan_settlement
from lending.errors import LendingError
from lending.members import find_member_by_phone
from lending.models import REPAYABLE_STATUSES
from messaging import ports
from messaging.ports import DueInstallment, MemberInfo, RepaymentRefused
from payments import intents

SMS_REFUSALS = {"amount_too_high": "amount_too_high"}
"""Lending's refusal codes that REPAY by SMS names; any other: no active loan."""


class LendingMemberLookup:
    """`messaging.ports.MemberLookup` over the lending domain."""

    def find_member(self, session: Session, phone: str) -> MemberInfo | None:
        member = find_member_by_phone(session, phone)
        return None if member is None else MemberInfo(member.id, member.first_name,
                                                      member.language)

    def balance_text_params(self, session: Session, member_id: int) -> dict[str, Any]:
        summary = queries.balance_summary(session, member_id)
        currency = summary.currency
        if summary.status not in REPAYABLE_STATUSES or summary.reference is None:
            return {"credit_limit": Money(summary.credit_limit, currency)}
        return {
            "loan_reference": summary.reference,
            "balance": Money(summary.outstanding, currency),
            "next_amount": Money(summary.next_due_amount, currency),
            "next_date": summary.next_due_date or date.today(),
        }

    def request_repayment(self, session: Session, member_id: int, amount_minor: int,
                          idempotency_key: str) -> None:
        try:
            with session.begin_nested():
                loan_settlement.request_borrower_repayment(
                    session, member_id=member_id, amount=amount_minor,
                    idempotency_key=idempotency_key)
        except LendingError as exc:
            raise RepaymentRefused(SMS_REFUSALS.get(exc.code, ports.NO_ACTIVE_LOAN)) from None
        except intents.PaymentError as exc:
            raise RepaymentRefused(exc.code) from None

    def due_installments(self, session: Session, on_dates: list[date]
                         ) -> Iterable[DueInstallment]:
        for due in queries.installments_due_on(session, on_dates):
            yield DueInstallment(
                installment_id=due.installment_id, member_id=due.member_id, phone=due.phone,
                language=due.language, amount_due=Money(due.amount_due, due.currency),
                due_date=due.due_date, loan_reference=due.loan_reference,
                reminder_offsets=due.reminder_offsets,
            )

