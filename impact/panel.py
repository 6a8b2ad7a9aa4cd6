"""Who is asked, when, and what they answered.

The rules (docs/impact.md):
- a member is in the panel of a survey when a hash of (survey code, member id) falls
  under the survey's sample rate, so the sample is stable: the same members give the
  baseline and the follow-ups;
- a member who opted out is never asked; opting back in is one menu choice;
- nobody is asked twice within `MIN_GAP` (30 days), whatever the survey;
- the first invitation is the baseline (at registration: the first time she dials);
  a baseline not answered is offered again, at most `BASELINE_TRIES` times;
- once the baseline is answered, a follow-up is offered after each loan milestone the
  survey chose (disbursed, mid-term, repaid) that happened since the last invitation;
- invitations are made by a daily job (`invite_due_members`) and announced by SMS; the
  next time she dials, the offer is shown once before the home menu (until she answers,
  says "not now" or "never"); it also waits under More services > Survey. Its unique key
  stops a second run making it again; answers are recorded once per invitation, with
  consent.

`plan_next` decides from plain values; the functions below it read and write.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.selectable import ScalarSelect

from core.db import insert_once, skipping_duplicates
from impact.definition import SurveyDefinition
from impact.models import (
    ANSWERED,
    BASELINE,
    DECLINED,
    FOLLOWUP,
    OFFERED,
    OPEN_INVITATIONS,
    POSTPONED,
    Survey,
    SurveyInvitation,
    SurveyOptOut,
    SurveyResponse,
)
from impact.surveys import active_survey, definition_of
from lending.models import (
    MEMBER_ACTIVE,
    PENDING_VERIFICATION,
    REPAID,
    Loan,
    LoanInstallment,
    Member,
)

MIN_GAP = timedelta(days=30)
BASELINE_TRIES = 3
EXPIRED = "expired"


class PanelError(ValueError):
    """The invitation is not this member's, not open, or the answers do not fit the survey."""


@dataclass(frozen=True, slots=True)
class PastInvitation:
    survey_code: str
    kind: str
    status: str
    offered_at: datetime
    milestone: str | None = None
    loan_id: int | None = None


@dataclass(frozen=True, slots=True)
class Milestone:
    name: str
    loan_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Planned:
    kind: str
    key_suffix: str
    milestone: str | None = None
    loan_id: int | None = None


def in_sample(member_id: int, survey_code: str, rate: Decimal) -> bool:
    """Whether this member is in the survey's panel: stable for a survey and rate."""
    digest = hashlib.sha256(f"{survey_code}:{member_id}".encode()).digest()
    return Decimal(int.from_bytes(digest[:4], "big")) < rate * (1 << 32)


def plan_next(*, now: datetime, survey_code: str, milestones: Sequence[str], sampled: bool,
              opted_out: bool, history: Sequence[PastInvitation],
              baseline_answered_at: datetime | None, events: Sequence[Milestone]
              ) -> Planned | None:
    """The invitation to offer now, if any (pure: the rules in the module docstring)."""
    if opted_out or not sampled:
        return None
    if history and now - max(past.offered_at for past in history) < MIN_GAP:
        return None
    mine = [past for past in history if past.survey_code == survey_code]
    if baseline_answered_at is None:
        tries = sum(1 for past in mine if past.kind == BASELINE)
        return Planned(BASELINE, f"baseline:{tries}") if tries < BASELINE_TRIES else None
    since = max([baseline_answered_at, *(past.offered_at for past in mine)])
    asked = {(past.milestone, past.loan_id) for past in mine if past.kind == FOLLOWUP}
    due = [event for event in events
           if event.name in milestones and since < event.at <= now
           and (event.name, event.loan_id) not in asked]
    if not due:
        return None
    latest = max(due, key=lambda event: (event.at, event.loan_id))
    return Planned(FOLLOWUP, f"{latest.name}:{latest.loan_id}", latest.name, latest.loan_id)


# --- reading the loan book ------------------------------------------------------------


def milestones_of(session: Session, member_id: int, tz: str) -> list[Milestone]:
    """The loan milestones this member has reached: disbursed, half the term due, repaid."""
    events: list[Milestone] = []
    loans = session.scalars(select(Loan).where(Loan.borrower_id == member_id,
                                               Loan.disbursed_at.is_not(None)))
    for loan in loans:
        assert loan.disbursed_at is not None
        events.append(Milestone("disbursed", loan.id, loan.disbursed_at))
        half = math.ceil(loan.term / 2)
        due = session.scalar(select(LoanInstallment.due_date).where(
            LoanInstallment.loan_id == loan.id, LoanInstallment.number == half))
        if due is not None:
            # the morning after the middle installment fell due, local time
            at = datetime.combine(due + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz))
            events.append(Milestone("mid_term", loan.id, at.astimezone(UTC)))
        if loan.status == REPAID and loan.closed_at is not None:
            events.append(Milestone("repaid", loan.id, loan.closed_at))
    return events


def _history(session: Session, member_id: int) -> list[PastInvitation]:
    rows = session.execute(
        select(Survey.code, SurveyInvitation.kind, SurveyInvitation.status,
               SurveyInvitation.offered_at, SurveyInvitation.milestone,
               SurveyInvitation.loan_id)
        .join(Survey, Survey.id == SurveyInvitation.survey_id)
        .where(SurveyInvitation.member_id == member_id)
    )
    return [PastInvitation(*row) for row in rows]


def _baseline_answered_at(session: Session, member_id: int, survey_id: int) -> datetime | None:
    return session.scalar(select(SurveyResponse.completed_at).where(
        SurveyResponse.member_id == member_id, SurveyResponse.survey_id == survey_id,
        SurveyResponse.kind == BASELINE))


def is_opted_out(session: Session, member_id: int) -> bool:
    return session.scalar(select(SurveyOptOut.member_id)
                          .where(SurveyOptOut.member_id == member_id)) is not None


# --- offering, answering, opting out ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Offer:
    invitation_id: int
    kind: str
    questions: int


def invite_if_due(session: Session, member_id: int, now: datetime, tz: str
                  ) -> SurveyInvitation | None:
    """Make the invitation this member is due now, if any (the caller commits)."""
    if is_opted_out(session, member_id):
        return None
    survey, definition = active_survey(session)
    if not in_sample(member_id, survey.code, definition.sample_rate):
        return None
    planned = plan_next(
        now=now, survey_code=survey.code, milestones=definition.milestones, sampled=True,
        opted_out=False, history=_history(session, member_id),
        baseline_answered_at=_baseline_answered_at(session, member_id, survey.id),
        events=milestones_of(session, member_id, tz),
    )
    if planned is None:
        return None
    session.execute(update(SurveyInvitation)
                    .where(SurveyInvitation.member_id == member_id,
                           SurveyInvitation.status.in_(OPEN_INVITATIONS))
                    .values(status=EXPIRED, closed_at=now))
    return insert_once(session, SurveyInvitation, dict(
        key=f"s{survey.id}:m{member_id}:{planned.key_suffix}", survey_id=survey.id,
        member_id=member_id, kind=planned.kind, milestone=planned.milestone,
        loan_id=planned.loan_id, status=OFFERED, offered_at=now,
    ), key="key")  # None: a concurrent run made it a moment ago


def candidates(session: Session, now: datetime, limit: int) -> list[int]:
    """Borrowers who might be due an invitation: not opted out, not asked in MIN_GAP."""
    recent = select(SurveyInvitation.member_id).where(
        SurveyInvitation.offered_at > now - MIN_GAP)
    return list(session.scalars(
        select(Member.id)
        .where(Member.is_borrower.is_(True),
               Member.status.in_((MEMBER_ACTIVE, PENDING_VERIFICATION)),
               Member.id.not_in(select(SurveyOptOut.member_id)),
               Member.id.not_in(recent))
        .order_by(Member.id).limit(limit)))


def invite_due_members(session: Session, now: datetime, tz: str, *, limit: int = 5000
                       ) -> list[SurveyInvitation]:
    """Invite everyone due a survey now; each invitation is also an SMS (the caller commits)."""
    made = []
    for member_id in candidates(session, now, limit):
        invitation = invite_if_due(session, member_id, now, tz)
        if invitation is not None:
            made.append(invitation)
    return made


def offer_on_dial(session: Session, member_id: int) -> Offer | None:
    """An invitation she got by SMS and has not yet seen on USSD (shown once as she dials)."""
    invitation = session.scalars(
        select(SurveyInvitation)
        .where(SurveyInvitation.member_id == member_id, SurveyInvitation.status == OFFERED)
        .order_by(SurveyInvitation.offered_at.desc())
    ).first()
    if invitation is None:
        return None
    return Offer(invitation.id, invitation.kind, len(survey_for(session, invitation).questions))


def offer_on_dial_column(
        member_id: ColumnElement[int] | InstrumentedAttribute[int]) -> ScalarSelect[Any]:
    """The id of `offer_on_dial`'s invitation (NULL: none) as a column correlated to
    `member_id`, so the member's own look-up as she dials can carry it (one round trip);
    `offer_of` makes the offer of an id it found."""
    return (select(SurveyInvitation.id)
            .where(SurveyInvitation.member_id == member_id, SurveyInvitation.status == OFFERED)
            .order_by(SurveyInvitation.offered_at.desc()).limit(1).scalar_subquery())


def offer_of(session: Session, member_id: int, invitation_id: int) -> Offer | None:
    """The offer of an invitation `offer_on_dial_column` named, if it is still hers to see."""
    invitation = session.get(SurveyInvitation, invitation_id)
    if invitation is None or invitation.member_id != member_id or invitation.status != OFFERED:
        return None
    return Offer(invitation.id, invitation.kind, len(survey_for(session, invitation).questions))


def open_invitation(session: Session, member_id: int) -> SurveyInvitation | None:
    """Her invitation still waiting for answers (offered or postponed), if any."""
    return session.scalars(
        select(SurveyInvitation)
        .where(SurveyInvitation.member_id == member_id,
               SurveyInvitation.status.in_(OPEN_INVITATIONS))
        .order_by(SurveyInvitation.offered_at.desc())
    ).first()


def _own_open(session: Session, member_id: int, invitation_id: int) -> SurveyInvitation:
    invitation = session.get(SurveyInvitation, invitation_id)
    if invitation is None or invitation.member_id != member_id:
        raise PanelError("unknown invitation")
    if invitation.status not in OPEN_INVITATIONS:
        raise PanelError("invitation closed")
    return invitation


def survey_for(session: Session, invitation: SurveyInvitation) -> SurveyDefinition:
    survey = session.get(Survey, invitation.survey_id)
    assert survey is not None
    return definition_of(survey)


def questions(session: Session, member_id: int, invitation_id: int) -> SurveyDefinition:
    """The survey of her open invitation."""
    return survey_for(session, _own_open(session, member_id, invitation_id))


def consent(session: Session, member_id: int, invitation_id: int, now: datetime
            ) -> SurveyDefinition:
    """She agreed to answer: record when, and return the questions."""
    invitation = _own_open(session, member_id, invitation_id)
    invitation.consented_at = invitation.consented_at or now
    return survey_for(session, invitation)


def postpone(session: Session, member_id: int, invitation_id: int) -> None:
    """Not now: it waits under More services (not offered on dialling again) until the next
    invitation replaces it."""
    _own_open(session, member_id, invitation_id).status = POSTPONED


def opt_out(session: Session, member_id: int, now: datetime) -> None:
    """Never ask me: closes her open invitations and keeps her out of every survey."""
    if not is_opted_out(session, member_id):
        # two sessions of hers may say "never" at once
        session.execute(skipping_duplicates(SurveyOptOut, "member_id",
                                            session.get_bind().dialect.name)
                        .values(member_id=member_id, opted_out_at=now))
    session.execute(update(SurveyInvitation)
                    .where(SurveyInvitation.member_id == member_id,
                           SurveyInvitation.status.in_(OPEN_INVITATIONS))
                    .values(status=DECLINED, closed_at=now))


def opt_in(session: Session, member_id: int) -> None:
    """She will take part again (from the next invitation on)."""
    session.execute(delete(SurveyOptOut).where(SurveyOptOut.member_id == member_id))


def record_response(session: Session, member_id: int, invitation_id: int,
                    answers: dict[str, int], now: datetime) -> SurveyResponse:
    """Store complete answers once per invitation, scored per dimension (the caller commits)."""
    existing = session.scalars(select(SurveyResponse)
                               .where(SurveyResponse.invitation_id == invitation_id)).first()
    if existing is not None and existing.member_id == member_id:
        return existing
    invitation = _own_open(session, member_id, invitation_id)
    if invitation.consented_at is None:
        raise PanelError("no consent recorded")
    definition = survey_for(session, invitation)
    clean = _valid_answers(definition, answers)
    response = insert_once(session, SurveyResponse, dict(
        invitation_id=invitation.id, survey_id=invitation.survey_id, member_id=member_id,
        kind=invitation.kind, answers=clean, scores=definition.scores(clean),
        completed_at=now,
    ), key="invitation_id")
    if response is None:
        return session.scalars(select(SurveyResponse)
                               .where(SurveyResponse.invitation_id == invitation_id)).one()
    invitation.status, invitation.closed_at = ANSWERED, now
    return response


def _valid_answers(definition: SurveyDefinition, answers: dict[str, int]) -> dict[str, int]:
    """The answers to the questions asked, if they complete the survey; PanelError if not."""
    if not definition.is_complete(answers):
        raise PanelError("answers incomplete or not among the options")
    return {question_id: answers[question_id] for question_id in definition.walk(answers)}
