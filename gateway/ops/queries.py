"""Read models for the console and the API that no domain package offers yet.

Only SELECTs live here, so that views stay free of SQL. Loan lists and search
belong in `lending.queries` once it grows them; they are here for now because
the console and the API must share one definition of "the loans a field
partner may see".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from core.phones import InvalidPhoneNumber, normalize_phone
from gateway.ops_models import AuditEntry
from lending.models import FieldPartner, Loan, Member, Repayment
from lending.portfolio import figures
from messaging.models import SmsMessage
from payments.models import AWAITING_APPROVAL, PaymentIntent

# --- loans -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a caller may see: everything, or one field partner's borrowers."""

    field_partner_id: int | None = None

    def where(self) -> list[ColumnElement[bool]]:
        if self.field_partner_id is None:
            return []
        return [Loan.field_partner_id == self.field_partner_id]

    def allows(self, loan: Loan) -> bool:
        return self.field_partner_id is None or loan.field_partner_id == self.field_partner_id


EVERYTHING = Scope()


def _page(session: Session, query: Select[Any], order: Sequence[Any], limit: int,
          offset: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(*order).limit(limit).offset(offset))
    return list(items), total


def list_loans(session: Session, scope: Scope, *, status: str | None = None,
               limit: int = 50, offset: int = 0) -> tuple[list[Loan], int]:
    """Loans the scope may see, newest first (optionally of one status), and their count."""
    query = select(Loan).where(*scope.where())
    if status:
        query = query.where(Loan.status == status)
    return _page(session, query, (Loan.id.desc(),), limit, offset)


def find_loan(session: Session, scope: Scope, loan_id: int) -> Loan | None:
    """The loan, if it exists and the scope may see it (otherwise None: no leak)."""
    loan = session.get(Loan, loan_id)
    return loan if loan is not None and scope.allows(loan) else None


def search_loans(session: Session, scope: Scope, text: str, *, limit: int = 50) -> list[Loan]:
    """Loans by reference, borrower phone, national id or name."""
    term = text.strip()
    if not term:
        return list_loans(session, scope, limit=limit)[0]
    conditions: list[ColumnElement[bool]] = [
        Loan.reference == term.upper(), Member.national_id == term,
        Member.first_name.ilike(f"%{term}%"), Member.last_name.ilike(f"%{term}%"),
    ]
    try:
        conditions.append(Member.phone == normalize_phone(term))
    except InvalidPhoneNumber:
        pass
    query = (select(Loan).join(Member, Member.id == Loan.borrower_id)
             .where(or_(*conditions), *scope.where()).order_by(Loan.id.desc()).limit(limit))
    return list(session.scalars(query))


# --- figures for the dashboard ---------------------------------------------------------------


@dataclass(frozen=True)
class MonthFlow:
    month: str  # YYYY-MM
    disbursed: int
    repaid: int


def month_starts(today: date, months: int) -> list[date]:
    """The first day of each of the last `months` months, oldest first."""
    starts, year, month = [], today.year, today.month
    for _ in range(months):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def disbursed_and_repaid(session: Session, today: date, months: int = 6) -> list[MonthFlow]:
    """Principal disbursed and money repaid per calendar month (UTC), oldest first."""
    starts = month_starts(today, months)
    flows = []
    for start in starts:
        end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        disbursed = session.scalar(select(func.coalesce(func.sum(Loan.amount), 0)).where(
            Loan.disbursed_at >= _midnight(start), Loan.disbursed_at < _midnight(end))) or 0
        repaid = session.scalar(select(func.coalesce(func.sum(Repayment.amount), 0)).where(
            Repayment.received_at >= _midnight(start),
            Repayment.received_at < _midnight(end))) or 0
        flows.append(MonthFlow(start.strftime("%Y-%m"), int(disbursed), int(repaid)))
    return flows


def _midnight(day: date) -> Any:
    return datetime.combine(day, time(), tzinfo=UTC)


def weeks_back(today: date, weeks: int) -> list[date]:
    """Today and the same weekday in each of the previous weeks, oldest first."""
    return [today - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


# --- SMS and the audit log -------------------------------------------------------------------


def sms_by_status(session: Session, since: date | None = None) -> dict[str, int]:
    """Outbound SMS counted by delivery status."""
    query = select(SmsMessage.status, func.count()).group_by(SmsMessage.status)
    if since is not None:
        query = query.where(SmsMessage.created_at >= _midnight(since))
    return {status: int(n) for status, n in session.execute(query)}


def sms_failure_reasons(session: Session, limit: int = 10) -> list[tuple[str, int]]:
    """The commonest failure reasons of undelivered SMS."""
    rows = session.execute(
        select(SmsMessage.failure_reason, func.count())
        .where(SmsMessage.failure_reason.is_not(None))
        .group_by(SmsMessage.failure_reason).order_by(func.count().desc()).limit(limit))
    return [(reason or "", int(n)) for reason, n in rows]


def audit_log(session: Session, *, subject_type: str | None = None, actor: str | None = None,
              limit: int = 50, offset: int = 0) -> tuple[list[AuditEntry], int]:
    """Audit entries, newest first, optionally for one kind of subject or one actor."""
    query = select(AuditEntry)
    if subject_type:
        query = query.where(AuditEntry.subject_type == subject_type)
    if actor:
        query = query.where(AuditEntry.actor.ilike(f"%{actor}%"))
    return _page(session, query, (AuditEntry.id.desc(),), limit, offset)


# --- registrations and held payouts ----------------------------------------------------------


def member_visible(scope: Scope, member: Member) -> bool:
    """A field partner sees registrations nobody has vouched for yet, and its own members."""
    return scope.field_partner_id is None or member.field_partner_id in (
        None, scope.field_partner_id)


def list_members(session: Session, scope: Scope, *, status: str | None = None,
                 limit: int = 50, offset: int = 0) -> tuple[list[Member], int]:
    """Members the scope may see (optionally of one status), oldest first, and their count."""
    query = select(Member)
    if scope.field_partner_id is not None:
        query = query.where(or_(Member.field_partner_id.is_(None),
                                Member.field_partner_id == scope.field_partner_id))
    if status:
        query = query.where(Member.status == status)
    return _page(session, query, (Member.id,), limit, offset)


def list_pin_locked(session: Session, scope: Scope, now: datetime, *, limit: int = 50,
                    offset: int = 0) -> tuple[list[Member], int]:
    """Members whose PIN is locked now (locked until unlocked first), and their count."""
    query = select(Member).where(Member.pin_locked_until > now)
    if scope.field_partner_id is not None:
        query = query.where(Member.field_partner_id == scope.field_partner_id)
    return _page(session, query, (Member.pin_lock_level.desc(), Member.id), limit, offset)


def find_member(session: Session, scope: Scope, member_id: int) -> Member | None:
    """The member, if it exists and the scope may see it (otherwise None: no leak)."""
    member = session.get(Member, member_id)
    return member if member is not None and member_visible(scope, member) else None


def field_partners(session: Session) -> list[FieldPartner]:
    return list(session.scalars(select(FieldPartner).order_by(FieldPartner.name)))


@dataclass(frozen=True)
class HeldPayout:
    """A payout waiting for an operator, with who it pays and for what."""

    intent: PaymentIntent
    member: Member | None
    loan: Loan | None


def held_payouts(session: Session, *, limit: int = 200) -> list[HeldPayout]:
    """Payouts waiting for an operator's decision, oldest first."""
    rows = session.execute(
        select(PaymentIntent, Member, Loan)
        .outerjoin(Member, Member.id == PaymentIntent.member_id)
        .outerjoin(Loan, Loan.id == PaymentIntent.loan_id)
        .where(PaymentIntent.status == AWAITING_APPROVAL)
        .order_by(PaymentIntent.id).limit(limit))
    return [HeldPayout(intent, member, loan) for intent, member, loan in rows]


def audit_for(session: Session, subject_type: str, subject_id: object) -> list[AuditEntry]:
    """Every audit entry about one thing, oldest first."""
    return list(session.scalars(select(AuditEntry).where(
        AuditEntry.subject_type == subject_type, AuditEntry.subject_id == str(subject_id))
        .order_by(AuditEntry.id)))


# --- portfolio over time ---------------------------------------------------------------------


def disbursed_loans(session: Session, scope: Scope) -> list[Loan]:
    """Every disbursed loan in scope, with its schedule (one query for a whole trend)."""
    return list(session.scalars(select(Loan).where(Loan.disbursed_at.is_not(None),
                                                   *scope.where()).order_by(Loan.id)))


def portfolio_trend(session: Session, scope: Scope, today: date,
                    weeks: int = 8) -> list[tuple[date, Any]]:
    """Portfolio figures as of each of the last `weeks` weeks.

    Figures for a past day count the payments made since as already made, so
    the trend slightly flatters the past; it is a health indicator, not a report.
    """
    loans = disbursed_loans(session, scope)
    return [(day, figures([loan for loan in loans if loan.disbursed_at is not None
                           and loan.disbursed_at.date() <= day], day))
            for day in weeks_back(today, weeks)]
