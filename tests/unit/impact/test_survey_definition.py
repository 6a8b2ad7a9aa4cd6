"""Surveys as data: validation, skip rules, scoring per dimension; the default survey."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from core.gsm7 import USSD_MAX, septets
from impact.default_survey import DEFAULT_SURVEY
from impact.definition import END, SurveyInvalid, parse_survey


def small() -> dict[str, Any]:
    """Two dimensions; the second question is skipped when the first answer is 'No'."""
    def o(text: str, score: int | None, next: str | None = None) -> dict[str, Any]:
        return {"text": {"en": text, "sw": f"sw {text}"}, "score": score, "next": next}

    return {
        "code": "tiny", "name": "Tiny", "sample_rate": "0.5", "milestones": ["repaid"],
        "dimensions": ["business", "home"],
        "questions": [
            {"id": "shop", "dimension": None, "text": {"en": "Have a shop?", "sw": "Duka?"},
             "options": [o("Yes", None), o("No", None, "food")]},
            {"id": "sales", "dimension": "business", "text": {"en": "Sales?", "sw": "Mauzo?"},
             "options": [o("Low", 0), o("Mid", 1), o("High", 3)]},
            {"id": "food", "dimension": "home", "text": {"en": "Meals?", "sw": "Milo?"},
             "options": [o("Skipped", 0), o("Enough", 2), o("Rather not say", None)]},
        ],
    }


def test_the_default_survey_covers_the_five_dimensions_and_fits_every_screen() -> None:
    survey = parse_survey(DEFAULT_SURVEY)
    assert survey.dimensions == ("access", "business", "household", "financial_management",
                                 "resilience")
    for question in survey.questions:
        for language in ("en", "sw"):
            assert septets(question.screen(language)) <= USSD_MAX - len("\n0 Rudi 00 Mwanzo")
    ids = {q.id for q in survey.questions}
    assert {"income", "employees", "food", "school", "health", "stress"} <= ids


def test_skip_rules_decide_the_questions_asked() -> None:
    survey = parse_survey(small())
    assert survey.walk({"shop": 2, "food": 1}) == ["shop", "food"]
    assert survey.walk({"shop": 1}) == ["shop", "sales"]
    assert survey.after("shop", 2) == "food"
    assert survey.after("food", 2) == END
    assert survey.is_complete({"shop": 2, "food": 1})
    assert not survey.is_complete({"shop": 1, "food": 1})  # sales was asked, not answered


def test_scores_are_points_taken_over_points_available_per_dimension() -> None:
    survey = parse_survey(small())
    # sales "Mid" = 1 of 3 -> 33.3; food "Enough" = 2 of 2 -> 100
    assert survey.scores({"shop": 1, "sales": 2, "food": 2}) == {"business": "33.3",
                                                                 "home": "100.0"}
    # skipped sales: no business score at all; an unscored answer leaves home empty too
    assert survey.scores({"shop": 2, "food": 3}) == {"business": None, "home": None}


def _broken(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(small())
    target: Any = data
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DELETE:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(("path", "value", "field"), [
    ("code", "Has Spaces", "code"),
    ("sample_rate", "1.5", "sample_rate"),
    ("sample_rate", "lots", "sample_rate"),
    ("milestones", ["someday"], "milestones[0]"),
    ("dimensions", [], "dimensions"),
    ("questions", [], "questions"),
    ("questions.1.dimension", "wealth", "questions[1].dimension"),
    ("questions.1.options.0.score", 11, "questions[1].options[0].score"),
    ("questions.1.options.0.score", True, "questions[1].options[0].score"),
    ("questions.1.options.0.next", "shop", "questions[1].options[0].next"),  # backwards
    ("questions.0.options.1.next", "nowhere", "questions[0].options[1].next"),
    ("questions.1.text.sw", "", "questions[1].text.sw"),
    ("questions.1.text.en", "Mauzo ✓?", "questions[1].text.en"),
    ("questions.1.options", [{"text": {"en": "a", "sw": "a"}, "score": 1}],
     "questions[1].options"),
    ("questions.2.id", "sales", "questions"),
    ("questions.1.text.en", "x" * 170, "questions[1].text.en"),
    ("questions.1.text.en", "x" * 150, "questions[1]"),  # fits alone, not with its options
    ("questions.2.dimension", None, "dimensions"),  # 'home' is measured by nothing
])
def test_a_broken_definition_is_refused_naming_the_field(path: str, value: Any,
                                                         field: str) -> None:
    with pytest.raises(SurveyInvalid) as refused:
        parse_survey(_broken(path, value))
    assert refused.value.field == field


def test_a_definition_round_trips_through_json() -> None:
    survey = parse_survey(small())
    assert parse_survey(survey.to_json()) == survey
