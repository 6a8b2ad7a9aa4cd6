"""The survey and Learn menus' port over impact/ and education/, in the request's session."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from core.clock import utcnow
from education import lessons
from impact import panel
from impact.definition import SurveyDefinition
from lending.localtime import today
from menus.beyond_ports import LessonNumbersView, SurveyOfferView
from menus.domain_adapter import DomainAdapter


class DomainBeyondServices(DomainAdapter):
    """`menus.beyond_ports.BeyondServices` over the impact panel and the lessons.

    A refusal is the polite generic screen (`ServiceRefused`).
    """

    refusals = (panel.PanelError, lessons.UnknownLesson)
    read_refusals = (panel.PanelError,)

    def __init__(self, session: Session, dial_offers: Mapping[int, int | None] | None = None
                 ) -> None:
        super().__init__(session)
        # what this request's member look-up already read of the survey waiting (by member)
        self._dial_offers = dial_offers or {}

    def survey_on_dial(self, member_id: int) -> SurveyOfferView | None:
        if member_id in self._dial_offers:  # read with the member as she dialled
            invitation_id = self._dial_offers[member_id]
            offer = (None if invitation_id is None
                     else panel.offer_of(self.session, member_id, invitation_id))
        else:
            offer = panel.offer_on_dial(self.session, member_id)
        return None if offer is None else SurveyOfferView(offer.invitation_id, offer.questions)

    def open_survey(self, member_id: int) -> SurveyOfferView | None:
        invitation = panel.open_invitation(self.session, member_id)
        if invitation is None:
            return None
        definition = panel.survey_for(self.session, invitation)
        return SurveyOfferView(invitation.id, len(definition.questions))

    def surveys_opted_out(self, member_id: int) -> bool:
        return panel.is_opted_out(self.session, member_id)

    def start_survey(self, member_id: int, invitation_id: int) -> SurveyDefinition:
        with self._unit():
            return panel.consent(self.session, member_id, invitation_id, utcnow())

    def survey_questions(self, member_id: int, invitation_id: int) -> SurveyDefinition:
        return self._call(lambda: panel.questions(self.session, member_id, invitation_id))

    def postpone_survey(self, member_id: int, invitation_id: int) -> None:
        with self._unit():
            panel.postpone(self.session, member_id, invitation_id)

    def opt_out_of_surveys(self, member_id: int) -> None:
        with self._unit():
            panel.opt_out(self.session, member_id, utcnow())

    def opt_in_to_surveys(self, member_id: int) -> None:
        with self._unit():
            panel.opt_in(self.session, member_id)

    def submit_survey(self, member_id: int, invitation_id: int, answers: dict[str, int]
                      ) -> None:
        with self._unit():
            panel.record_response(self.session, member_id, invitation_id, answers, utcnow())

    def lesson_numbers(self, member_id: int) -> LessonNumbersView | None:
        numbers = lessons.her_numbers(self.session, member_id, today())
        if numbers is None:
            return None
        return LessonNumbersView(numbers.source, numbers.amount, numbers.received,
                                 numbers.total_repayable, numbers.cost, numbers.apr,
                                 numbers.currency)

    def check_lesson(self, member_id: int, lesson: str, answer: int) -> bool:
        with self._unit():
            result = lessons.check_answer(self.session, member_id, lesson, answer, utcnow())
        return result.correct

    def lessons_done(self, member_id: int) -> int:
        return len(lessons.completed_lessons(self.session, member_id))
