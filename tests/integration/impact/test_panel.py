"""The panel on the database: invitations by SMS, consent, answers once, opt-out, follow-ups."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from impact import panel
from impact.jobs import send_invitations
from impact.models import BASELINE, FOLLOWUP, Survey, SurveyInvitation, SurveyResponse
from impact.surveys import define_survey
from messaging.models import SmsMessage

TZ = "Africa/Nairobi"


def test_the_daily_run_invites_new_borrowers_by_sms_once(world, session) -> None:
    world.survey()
    amina = world.member()
    world.member(verified=False)  # pending verification: asked too (the baseline)
    now = utcnow()
    assert send_invitations(session, now, TZ) == 2
    assert send_invitations(session, now, TZ) == 0
    assert send_invitations(session, now + timedelta(days=29), TZ) == 0
    sms = session.scalars(select(SmsMessage).where(SmsMessage.to_phone == amina.phone)).all()
    assert [m.template for m in sms] == ["survey_invitation"]
    assert "More services, then Survey" in sms[0].body and sms[0].segments == 1
    invitation = session.scalars(select(SurveyInvitation)
                                 .where(SurveyInvitation.member_id == amina.id)).one()
    assert invitation.kind == BASELINE


def test_answers_are_scored_and_recorded_once_with_consent(world, session) -> None:
    world.survey()
    amina = world.member()
    now = utcnow()
    invitation = panel.invite_if_due(session, amina.id, now, TZ)
    with pytest.raises(panel.PanelError, match="consent"):
        panel.record_response(session, amina.id, invitation.id, {"sales": 2, "meals": 2}, now)
    panel.consent(session, amina.id, invitation.id, now)
    first = panel.record_response(session, amina.id, invitation.id, {"sales": 2, "meals": 2}, now)
    again = panel.record_response(session, amina.id, invitation.id, {"sales": 4, "meals": 1}, now)
    assert first.id == again.id and first.scores == {"business": "25.0", "home": "100.0"}
    assert session.scalar(select(func.count(SurveyResponse.id))) == 1


@pytest.mark.parametrize("answers", [{"sales": 2}, {"sales": 5, "meals": 1},
                                     {"sales": "2", "meals": 1}, {}])
def test_incomplete_or_impossible_answers_are_refused(world, session, answers) -> None:
    world.survey()
    amina = world.member()
    invitation = panel.invite_if_due(session, amina.id, utcnow(), TZ)
    panel.consent(session, amina.id, invitation.id, utcnow())
    with pytest.raises(panel.PanelError):
        panel.record_response(session, amina.id, invitation.id, answers, utcnow())


def test_another_members_invitation_cannot_be_answered(world, session) -> None:
    world.survey()
    amina, baraka = world.member(), world.member()
    invitation = panel.invite_if_due(session, amina.id, utcnow(), TZ)
    with pytest.raises(panel.PanelError):
        panel.consent(session, baraka.id, invitation.id, utcnow())


def test_a_follow_up_follows_the_chosen_milestone_a_month_on(world, session, clock) -> None:
    world.survey()
    amina = world.member()
    start = utcnow()
    world.answer(amina, {"sales": 1, "meals": 1}, start)
    assert panel.invite_if_due(session, amina.id, start + timedelta(days=45), TZ) is None
    world.loan(amina, at=start + timedelta(days=10))
    assert panel.invite_if_due(session, amina.id, start + timedelta(days=20), TZ) is None
    followup = panel.invite_if_due(session, amina.id, start + timedelta(days=31), TZ)
    assert (followup.kind, followup.milestone) == (FOLLOWUP, "disbursed")


def test_opting_out_closes_the_invitation_and_stops_every_survey(world, session) -> None:
    world.survey()
    amina = world.member()
    now = utcnow()
    invitation = panel.invite_if_due(session, amina.id, now, TZ)
    panel.opt_out(session, amina.id, now)
    assert invitation.status == "declined" and panel.open_invitation(session, amina.id) is None
    assert panel.invite_if_due(session, amina.id, now + timedelta(days=90), TZ) is None
    assert send_invitations(session, now + timedelta(days=90), TZ) == 0
    panel.opt_in(session, amina.id)
    assert panel.invite_if_due(session, amina.id, now + timedelta(days=90), TZ) is not None


def test_postponed_is_not_offered_on_dialling_but_waits_under_more(world, session) -> None:
    world.survey()
    amina = world.member()
    invitation = panel.invite_if_due(session, amina.id, utcnow(), TZ)
    assert panel.offer_on_dial(session, amina.id).invitation_id == invitation.id
    panel.postpone(session, amina.id, invitation.id)
    assert panel.offer_on_dial(session, amina.id) is None
    assert panel.open_invitation(session, amina.id).id == invitation.id


def test_outside_the_sample_nobody_is_invited(world, session) -> None:
    world.survey()
    define_survey(session, {**world_survey(), "code": "nobody", "sample_rate": "0"}, "t",
                  activate=True)
    world.member()
    assert send_invitations(session, utcnow(), TZ) == 0


def world_survey() -> dict:
    return {"code": "x", "name": "Nobody", "sample_rate": "0", "dimensions": ["d"],
            "questions": [{"id": "q", "dimension": "d", "text": {"en": "Q?", "sw": "Swali?"},
                           "options": [{"text": {"en": "a", "sw": "a"}, "score": 0},
                                       {"text": {"en": "b", "sw": "b"}, "score": 1}]}]}


def test_one_survey_is_active_at_a_time(world, session) -> None:
    world.survey()
    define_survey(session, {**world_survey(), "code": "second"}, "t", activate=True)
    assert list(session.scalars(select(Survey.code).where(Survey.active.is_(True)))) == [
        "second"]
