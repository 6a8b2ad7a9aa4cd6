"""Demo data for impact, education and transparency: answered surveys, lessons, expenses.

Six borrowers answered the baseline about four months ago and a follow-up last
month (so the change from baseline shows, with its interval, above the cell size);
Grace only the baseline; Achieng has a follow-up invitation waiting, so dialling as
her in the simulator shows the survey offer. A few lessons are done, and three
months of operating expenses are booked in the ledger.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import insert_once
from education.lessons import LESSONS as ANSWERS
from education.lessons import check_answer
from impact import expenses, panel
from impact.jobs import INVITATION_TEMPLATE
from impact.models import BASELINE, FOLLOWUP, OFFERED, SurveyInvitation
from impact.surveys import ensure_default_survey
from lending.models import Loan, Member
from messaging.outbound import queue_sms

# Answers by question id (option numbers): before, and after some months with a loan.
BEFORE = [
    {"access": 1, "income": 1, "employees": 1, "food": 2, "children": 1, "school": 2,
     "health": 2, "stress": 2, "records": 1, "shock": 1, "saving": 1},
    {"access": 2, "income": 1, "employees": 1, "food": 1, "children": 2, "health": 1,
     "stress": 1, "records": 2, "shock": 1, "saving": 2},
    {"access": 1, "income": 2, "employees": 1, "food": 2, "children": 1, "school": 1,
     "health": 2, "stress": 2, "records": 1, "shock": 2, "saving": 1},
    {"access": 1, "income": 1, "employees": 2, "food": 1, "children": 1, "school": 2,
     "health": 1, "stress": 1, "records": 2, "shock": 1, "saving": 1},
    {"access": 2, "income": 1, "employees": 1, "food": 2, "children": 2, "health": 4,
     "stress": 2, "records": 1, "shock": 1, "saving": 2},
    {"access": 1, "income": 2, "employees": 2, "food": 2, "children": 1, "school": 2,
     "health": 2, "stress": 2, "records": 2, "shock": 1, "saving": 1},
]
AFTER = [
    {"access": 3, "income": 2, "employees": 2, "food": 3, "children": 1, "school": 1,
     "health": 3, "stress": 3, "records": 2, "shock": 2, "saving": 2},
    {"access": 2, "income": 2, "employees": 1, "food": 2, "children": 2, "health": 2,
     "stress": 2, "records": 3, "shock": 2, "saving": 2},
    {"access": 3, "income": 3, "employees": 2, "food": 3, "children": 1, "school": 1,
     "health": 3, "stress": 3, "records": 3, "shock": 3, "saving": 3},
    {"access": 2, "income": 1, "employees": 1, "food": 2, "children": 1, "school": 2,
     "health": 2, "stress": 2, "records": 2, "shock": 1, "saving": 2},
    {"access": 3, "income": 2, "employees": 1, "food": 3, "children": 2, "health": 4,
     "stress": 4, "records": 2, "shock": 2, "saving": 3},
    {"access": 2, "income": 3, "employees": 3, "food": 3, "children": 1, "school": 1,
     "health": 2, "stress": 3, "records": 3, "shock": 2, "saving": 2},
]
PAIRED = ("arrears", "repaid", "active", "fundraising", "review", "payout")
LESSONS = {"active": ("apr", "budget"), "repaid": ("apr", "budget", "saving", "borrowing")}
MONTHLY_COSTS = (("sms", 1_500, "SMS and USSD sessions"),
                 ("mobile_money_fees", 2_500, "M-Pesa charges"),
                 ("technology", 4_000, "Hosting, share of the demo portfolio"))
"""Scaled to the demo's small portfolio (a few thousand shillings), so the ratio reads true."""


def seed_impact(session: Session, borrowers: dict[str, Member]) -> None:
    """Surveys answered, an invitation waiting, lessons, operating expenses."""
    survey = ensure_default_survey(session)
    now = utcnow()
    for number, state in enumerate(PAIRED):
        member = borrowers[state]
        _answered(session, survey.id, member, BASELINE, BEFORE[number],
                  now - timedelta(days=120))
        if state != "active":
            _answered(session, survey.id, member, FOLLOWUP, AFTER[number],
                      now - timedelta(days=35), loan=_loan_of(session, member))
    _answered(session, survey.id, borrowers["rejected"], BASELINE, BEFORE[0],
              now - timedelta(days=110))
    _answered(session, survey.id, borrowers["active"], FOLLOWUP, AFTER[2],
              now - timedelta(days=50), milestone="mid_term", key="earlier")
    _waiting(session, survey.id, borrowers["active"], now)
    for state, codes in LESSONS.items():
        for code in codes:
            check_answer(session, borrowers[state].id, code, _right(code), now)
    check_answer(session, borrowers["arrears"].id, "borrowing", 1, now)  # not yet right
    for days_ago in (50, 20):
        for category, amount, text in MONTHLY_COSTS:
            expenses.record_operating_expense(session, expenses.ExpenseRequest(
                key=f"demo-{category}-{days_ago}", category=category, amount=amount,
                description=f"{text} (demo)", incurred_on=now - timedelta(days=days_ago),
            ), "demo")


def _right(code: str) -> int:
    return ANSWERS[code]


def _loan_of(session: Session, member: Member) -> int | None:
    return session.scalar(select(Loan.id).where(Loan.borrower_id == member.id)
                          .order_by(Loan.id))


def _answered(session: Session, survey_id: int, member: Member, kind: str,
              answers: dict[str, int], at: datetime, *, loan: int | None = None,
              milestone: str | None = None, key: str = "") -> None:
    invitation = insert_once(session, SurveyInvitation, dict(
        key=f"s{survey_id}:m{member.id}:demo-{kind}{key}", survey_id=survey_id,
        member_id=member.id, kind=kind,
        milestone=milestone or (None if kind == BASELINE else "repaid"), loan_id=loan,
        status=OFFERED, offered_at=at), key="key")
    assert invitation is not None
    panel.consent(session, member.id, invitation.id, at)
    panel.record_response(session, member.id, invitation.id, answers, at)


def _waiting(session: Session, survey_id: int, member: Member, now: datetime) -> None:
    invitation = insert_once(session, SurveyInvitation, dict(
        key=f"s{survey_id}:m{member.id}:demo-waiting", survey_id=survey_id,
        member_id=member.id, kind=FOLLOWUP, milestone="disbursed",
        loan_id=_loan_of(session, member), status=OFFERED, offered_at=now), key="key")
    assert invitation is not None
    queue_sms(session, member.phone, INVITATION_TEMPLATE, member.language,
              {"first_name": member.first_name}, key=f"survey:{invitation.key}")
