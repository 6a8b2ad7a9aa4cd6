"""The lessons, their checks, and recording who passed them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import insert_once
from education.models import LessonProgress
from lending.disclosure import quote
from lending.models import OPEN_STATUSES, Loan, Member, Product
from lending.products import ProductError

LESSONS: dict[str, int] = {
    "apr": 2,  # which option of the check is right (1-based)
    "budget": 1,
    "saving": 3,
    "borrowing": 2,
}
"""Lesson codes, in menu order, and the right answer of each one's check question."""
CHECK_OPTIONS = 3


class UnknownLesson(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CheckResult:
    correct: bool
    completed_before: bool
    attempts: int


def check_answer(session: Session, member_id: int, lesson: str, answer: int, now: datetime
                 ) -> CheckResult:
    """Record an attempt at a lesson's check; the first right answer completes the lesson."""
    if lesson not in LESSONS:
        raise UnknownLesson(lesson)
    progress = _progress(session, member_id, lesson, now)
    completed_before = progress.completed_at is not None
    correct = answer == LESSONS[lesson]
    progress.attempts += 1
    if correct and not completed_before:
        progress.completed_at = now
    return CheckResult(correct, completed_before, progress.attempts)


def _progress(session: Session, member_id: int, lesson: str, now: datetime) -> LessonProgress:
    """Her progress row on this lesson, created on the first attempt, locked for the update."""
    key = f"{member_id}:{lesson}"
    insert_once(session, LessonProgress, dict(key=key, member_id=member_id, lesson=lesson,
                                              attempts=0, first_seen_at=now,
                                              completed_at=None), key="key")
    return session.scalars(select(LessonProgress).where(LessonProgress.key == key)
                           .with_for_update()).one()


def completed_lessons(session: Session, member_id: int) -> list[str]:
    done = set(session.scalars(select(LessonProgress.lesson).where(
        LessonProgress.member_id == member_id, LessonProgress.completed_at.is_not(None))))
    return [code for code in LESSONS if code in done]


@dataclass(frozen=True, slots=True)
class MemberLearning:
    """What a field partner sees: a member by id and first name, and the lessons she passed."""

    member_id: int
    first_name: str
    field_partner_id: int | None
    completed: dict[str, datetime]
    attempts: int

    def to_json(self) -> dict[str, Any]:
        return {"member_id": self.member_id, "first_name": self.first_name,
                "field_partner_id": self.field_partner_id,
                "completed": {code: at.isoformat(timespec="seconds")
                              for code, at in self.completed.items()},
                "lessons_completed": len(self.completed), "lessons_total": len(LESSONS),
                "attempts": self.attempts}


def learning_by_member(session: Session, field_partner_id: int | None = None, *,
                       limit: int = 200, offset: int = 0) -> tuple[list[MemberLearning], int]:
    """Members who opened a lesson's check, newest activity first; one partner's or all."""
    members = (select(LessonProgress.member_id,
                      func.max(LessonProgress.first_seen_at).label("seen"))
               .join(Member, Member.id == LessonProgress.member_id)
               .group_by(LessonProgress.member_id))
    if field_partner_id is not None:
        members = members.where(Member.field_partner_id == field_partner_id)
    total = int(session.scalar(select(func.count()).select_from(members.subquery())) or 0)
    page = [row.member_id for row in session.execute(
        members.order_by(func.max(LessonProgress.first_seen_at).desc(),
                         LessonProgress.member_id).limit(limit).offset(offset))]
    people = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(page)))}
    progress: dict[int, list[LessonProgress]] = {member_id: [] for member_id in page}
    for row in session.scalars(select(LessonProgress)
                               .where(LessonProgress.member_id.in_(page))):
        progress[row.member_id].append(row)
    return [_learning(people[member_id], progress[member_id]) for member_id in page], total


def _learning(member: Member, rows: Sequence[LessonProgress]) -> MemberLearning:
    done = {row.lesson: row.completed_at for row in rows if row.completed_at is not None}
    return MemberLearning(
        member.id, member.first_name, member.field_partner_id,
        {code: done[code] for code in LESSONS if code in done},
        sum(row.attempts for row in rows))


@dataclass(frozen=True, slots=True)
class LoanNumbers:
    """The figures the interest lesson is told with: her loan's, or a quote of her product."""

    source: str  # "loan" | "quote"
    amount: int
    received: int
    total_repayable: int
    cost: int
    apr: str
    term: int
    frequency: str
    currency: str = "KES"


def her_numbers(session: Session, member_id: int, today: date) -> LoanNumbers | None:
    """Her current loan's figures; else a quote of the first product she could apply for."""
    loan = session.scalars(select(Loan).where(Loan.borrower_id == member_id,
                                              Loan.status.in_(OPEN_STATUSES))
                           .order_by(Loan.id.desc())).first()
    if loan is not None:
        return LoanNumbers("loan", loan.amount, loan.net_disbursed, loan.total_repayable,
                           loan.total_repayable - loan.net_disbursed, loan.apr, loan.term,
                           loan.product.frequency, loan.currency)
    member = session.get(Member, member_id)
    for product in session.scalars(select(Product).where(Product.active.is_(True))
                                   .order_by(Product.min_amount, Product.id)):
        terms = product.to_terms()
        limit = member.credit_limit if member is not None else 0
        amount = min(max(terms.min_amount, min(limit, 500_000)), terms.max_amount)
        try:
            q = quote(terms, amount, min(terms.terms), today)
        except ProductError:
            continue
        return LoanNumbers("quote", q.amount, q.net_disbursed, q.total_repayable,
                           q.total_cost_of_credit, str(q.apr), q.term, q.frequency,
                           q.currency)
    return None
