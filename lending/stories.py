"""Borrowers' short stories: what lenders read before they fund a loan.

A story is optional; a loan without one is described from its purpose, sector
and place, so every fundraising loan has something to show on a phone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.clock import utcnow
from core.db import Base, BigId, Timestamp
from lending.errors import LendingError
from lending.models import Loan

MAX_STORY = 500


class LoanStory(Base):
    """The borrower's own words about a loan, shown to lenders."""

    __tablename__ = "loan_stories"

    loan_id: Mapped[int] = mapped_column(BigId, ForeignKey("loans.id"), primary_key=True)
    text: Mapped[str] = mapped_column(String(MAX_STORY))
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow)


def set_story(session: Session, loan_id: int, text: str) -> LoanStory:
    """Write (or replace) a loan's story."""
    body = " ".join((text or "").split())
    if not body or len(body) > MAX_STORY:
        raise LendingError("invalid_story", f"1 to {MAX_STORY} characters", field="story")
    if session.get(Loan, loan_id) is None:
        raise LendingError("unknown_loan", f"no loan {loan_id}")
    story = session.get(LoanStory, loan_id)
    now: datetime = utcnow()
    if story is None:
        story = LoanStory(loan_id=loan_id, text=body, updated_at=now)
        session.add(story)
    else:
        story.text, story.updated_at = body, now
    session.flush()
    return story


def stories_for(session: Session, loan_ids: list[int]) -> dict[int, str]:
    """The stories of these loans, by loan id (loans without one are absent)."""
    if not loan_ids:
        return {}
    rows = session.execute(
        select(LoanStory.loan_id, LoanStory.text).where(LoanStory.loan_id.in_(loan_ids))
    )
    return {loan_id: text for loan_id, text in rows}


def describe(loan: Loan, story: str | None) -> str:
    """The story, or a plain sentence built from the loan when there is none."""
    if story:
        return story
    borrower = loan.borrower
    where = f" in {borrower.place}" if borrower.place else ""
    sector = loan.sector or borrower.sector
    trade = f" ({sector})" if sector else ""
    return f"{borrower.first_name}{where}{trade}: {loan.purpose}."
