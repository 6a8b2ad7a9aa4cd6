"""What the survey and Learn menus need from the domain: one Protocol and plain values.

Every mutating method is one unit of work (commits before returning, or raises
`ServiceRefused` having changed nothing), as `menus.ports` says. The survey itself
is data: the menus walk an `impact.definition.SurveyDefinition`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from impact.definition import SurveyDefinition


@dataclass(frozen=True, slots=True)
class SurveyOfferView:
    invitation_id: int
    questions: int  # at most this many (skip rules may ask fewer)


@dataclass(frozen=True, slots=True)
class LessonNumbersView:
    """Her loan's figures (source "loan") or a quote of her product (source "quote")."""

    source: str
    amount: int
    received: int
    total_repayable: int
    cost: int
    apr: str
    currency: str = "KES"


class BeyondServices(Protocol):
    def survey_on_dial(self, member_id: int) -> SurveyOfferView | None:
        """An invitation sent by SMS that she has not yet seen on USSD (shown as she dials)."""

    def open_survey(self, member_id: int) -> SurveyOfferView | None:
        """An invitation she has not answered yet (new, or she said "not now")."""

    def surveys_opted_out(self, member_id: int) -> bool: ...

    def start_survey(self, member_id: int, invitation_id: int) -> SurveyDefinition:
        """Record her consent and return the questions."""

    def survey_questions(self, member_id: int, invitation_id: int) -> SurveyDefinition: ...

    def postpone_survey(self, member_id: int, invitation_id: int) -> None: ...

    def opt_out_of_surveys(self, member_id: int) -> None: ...

    def opt_in_to_surveys(self, member_id: int) -> None: ...

    def submit_survey(self, member_id: int, invitation_id: int, answers: dict[str, int]
                      ) -> None: ...

    def lesson_numbers(self, member_id: int) -> LessonNumbersView | None: ...

    def check_lesson(self, member_id: int, lesson: str, answer: int) -> bool:
        """Record an attempt at the lesson's check; True when the answer is right."""

    def lessons_done(self, member_id: int) -> int: ...


@runtime_checkable
class ProvidesBeyondServices(Protocol):
    """A borrower-services object that can also serve these menus (e.g. a test fake)."""

    def beyond_services(self) -> BeyondServices:
        ...


def beyond_services_for(services: Any) -> BeyondServices | None:
    """The port beside the borrower port of this request; None when there is no domain."""
    if isinstance(services, ProvidesBeyondServices):
        return services.beyond_services()
    return None
