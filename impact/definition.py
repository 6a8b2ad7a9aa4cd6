"""A survey as data: parsed and validated from JSON, walked by skip rules, scored per dimension.

The JSON an operator sends (docs/impact.md has a full example):

    {"code": "mkopo-core", "name": "...", "sample_rate": "0.5",
     "milestones": ["repaid"], "dimensions": ["business", ...],
     "questions": [{"id": "income", "dimension": "business",
                    "text": {"en": "...", "sw": "..."},
                    "options": [{"text": {"en": "...", "sw": "..."}, "score": 0,
                                 "next": "employees"}, ...]}]}

Skip rules only jump forward (`next` names a later question or `"end"`), so every
walk ends. A question without a dimension, or an option whose score is null, is
asked but not scored. A dimension's score in one response is 100 × the points
taken / the points available over the scored questions answered in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from core.gsm7 import USSD_MAX, is_gsm7, septets

LANGUAGES = ("en", "sw")
MILESTONES = ("disbursed", "mid_term", "repaid")
"""Loan milestones a follow-up can be tied to (panel.py says when each happens)."""
END = "end"
SLUG = re.compile(r"[a-z][a-z0-9_-]{0,31}")
NAV_LINE = len("\n0 Rudi 00 Mwanzo")  # the longer of the two languages' Back/Home line
SCREEN_BUDGET = USSD_MAX - NAV_LINE
MAX_QUESTIONS, MAX_OPTIONS, MAX_SCORE = 20, 6, 10
ONE_DECIMAL = Decimal("0.1")


class SurveyInvalid(ValueError):
    """The definition cannot be used; `field` says where (a JSON path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True, slots=True)
class Option:
    text: dict[str, str]
    score: int | None
    next: str | None  # None: the following question


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    dimension: str | None
    text: dict[str, str]
    options: tuple[Option, ...]

    @property
    def max_score(self) -> int | None:
        scores = [o.score for o in self.options if o.score is not None]
        return max(scores) if scores and self.dimension else None

    def screen(self, language: str) -> str:
        """The question and its numbered options, as a phone shows them."""
        lines = [self.text[language]]
        lines += [f"{n} {option.text[language]}" for n, option in enumerate(self.options, 1)]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class SurveyDefinition:
    code: str
    name: str
    sample_rate: Decimal
    milestones: tuple[str, ...]
    dimensions: tuple[str, ...]
    questions: tuple[Question, ...]

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    @property
    def first(self) -> str:
        return self.questions[0].id

    def after(self, question_id: str, answer: int) -> str:
        """The question that follows this answer (1-based option number), or END."""
        question = self.question(question_id)
        option = question.options[answer - 1]
        if option.next is not None:
            return option.next
        index = self.questions.index(question)
        return self.questions[index + 1].id if index + 1 < len(self.questions) else END

    def walk(self, answers: Mapping[str, Any]) -> list[str]:
        """The questions asked, in order, for these answers (stops at the first question
        without a valid answer)."""
        asked, current = [], self.first
        while current != END:
            asked.append(current)
            if not self.valid(current, answers.get(current)):
                break
            current = self.after(current, answers[current])
        return asked

    def valid(self, question_id: str, answer: Any) -> bool:
        """Whether `answer` is one of the question's option numbers."""
        options = len(self.question(question_id).options)
        return isinstance(answer, int) and not isinstance(answer, bool) and 1 <= answer <= options

    def is_complete(self, answers: Mapping[str, Any]) -> bool:
        last = self.walk(answers)[-1]
        return self.valid(last, answers.get(last)) and self.after(last, answers[last]) == END

    def scores(self, answers: Mapping[str, int]) -> dict[str, str | None]:
        """Each dimension's score, 0-100 with one decimal, or None when nothing scored in it."""
        taken = dict.fromkeys(self.dimensions, 0)
        available = dict.fromkeys(self.dimensions, 0)
        for question_id in self.walk(answers):
            question = self.question(question_id)
            if question_id not in answers or question.dimension is None:
                continue
            score = question.options[answers[question_id] - 1].score
            if score is None or question.max_score is None:
                continue
            taken[question.dimension] += score
            available[question.dimension] += question.max_score
        return {
            dim: None if available[dim] == 0 else str(
                (Decimal(100 * taken[dim]) / available[dim]).quantize(ONE_DECIMAL,
                                                                        ROUND_HALF_EVEN))
            for dim in self.dimensions
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code, "name": self.name, "sample_rate": str(self.sample_rate),
            "milestones": list(self.milestones), "dimensions": list(self.dimensions),
            "questions": [{
                "id": q.id, "dimension": q.dimension, "text": dict(q.text),
                "options": [{"text": dict(o.text), "score": o.score, "next": o.next}
                            for o in q.options],
            } for q in self.questions],
        }


def parse_survey(raw: Any) -> SurveyDefinition:
    """A validated definition from JSON, or SurveyInvalid naming the first offending field."""
    data = _mapping(raw, "survey")
    code = _slug(data.get("code"), "code")
    name = _text(data.get("name"), "name", 80)
    rate = _rate(data.get("sample_rate", "1"))
    milestones = tuple(_list(data.get("milestones", ["repaid"]), "milestones"))
    for index, milestone in enumerate(milestones):
        if milestone not in MILESTONES:
            raise SurveyInvalid(f"milestones[{index}]", f"must be one of {', '.join(MILESTONES)}")
    dimensions = tuple(_slug(d, f"dimensions[{i}]")
                       for i, d in enumerate(_list(data.get("dimensions"), "dimensions")))
    if not dimensions or len(set(dimensions)) != len(dimensions):
        raise SurveyInvalid("dimensions", "give one or more distinct dimension names")
    raw_questions = _list(data.get("questions"), "questions")
    if not 1 <= len(raw_questions) <= MAX_QUESTIONS:
        raise SurveyInvalid("questions", f"give 1 to {MAX_QUESTIONS} questions")
    questions = tuple(_question(q, f"questions[{i}]", dimensions)
                      for i, q in enumerate(raw_questions))
    _check_ids_and_skips(questions)
    scored = {q.dimension for q in questions if q.max_score is not None}
    for dimension in dimensions:
        if dimension not in scored:
            raise SurveyInvalid("dimensions", f"no scored question measures '{dimension}'")
    return SurveyDefinition(code, name, rate, milestones, dimensions, questions)


def _question(raw: Any, path: str, dimensions: tuple[str, ...]) -> Question:
    data = _mapping(raw, path)
    dimension = data.get("dimension")
    if dimension is not None and dimension not in dimensions:
        raise SurveyInvalid(f"{path}.dimension", "must be one of the survey's dimensions")
    raw_options = _list(data.get("options"), f"{path}.options")
    if not 2 <= len(raw_options) <= MAX_OPTIONS:
        raise SurveyInvalid(f"{path}.options", f"give 2 to {MAX_OPTIONS} options")
    question = Question(
        id=_slug(data.get("id"), f"{path}.id"), dimension=dimension,
        text=_bilingual(data.get("text"), f"{path}.text"),
        options=tuple(_option(o, f"{path}.options[{i}]") for i, o in enumerate(raw_options)),
    )
    for language in LANGUAGES:
        if septets(question.screen(language)) > SCREEN_BUDGET:
            raise SurveyInvalid(path, f"the {language} screen is longer than {SCREEN_BUDGET} "
                                      "characters with its options")
    return question


def _option(raw: Any, path: str) -> Option:
    data = _mapping(raw, path)
    score = data.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int)
                              or not 0 <= score <= MAX_SCORE):
        raise SurveyInvalid(f"{path}.score", f"a whole number from 0 to {MAX_SCORE}, or null")
    following = data.get("next")
    if following is not None and not isinstance(following, str):
        raise SurveyInvalid(f"{path}.next", "a later question's id or 'end'")
    return Option(_bilingual(data.get("text"), f"{path}.text"), score, following)


def _check_ids_and_skips(questions: tuple[Question, ...]) -> None:
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids) or END in ids:
        raise SurveyInvalid("questions", f"question ids must be distinct and not '{END}'")
    for index, question in enumerate(questions):
        later = set(ids[index + 1:]) | {END}
        for number, option in enumerate(question.options):
            if option.next is not None and option.next not in later:
                raise SurveyInvalid(f"questions[{index}].options[{number}].next",
                                    "skip rules may only jump forward to a later question "
                                    f"or '{END}'")


def _mapping(raw: Any, path: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SurveyInvalid(path, "must be an object")
    return raw


def _list(raw: Any, path: str) -> list[Any]:
    if not isinstance(raw, list):
        raise SurveyInvalid(path, "must be a list")
    return raw


def _slug(raw: Any, path: str) -> str:
    if not isinstance(raw, str) or not SLUG.fullmatch(raw):
        raise SurveyInvalid(path, "lower-case letters, digits, '-' or '_', up to 32, "
                                  "starting with a letter")
    return raw


def _text(raw: Any, path: str, limit: int) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > limit or not raw.isprintable():
        raise SurveyInvalid(path, f"printable text of 1 to {limit} characters")
    return raw.strip()


def _bilingual(raw: Any, path: str) -> dict[str, str]:
    data = _mapping(raw, path)
    texts = {}
    for language in LANGUAGES:
        text = _text(data.get(language), f"{path}.{language}", SCREEN_BUDGET)
        if not is_gsm7(text):
            raise SurveyInvalid(f"{path}.{language}", "use only characters a feature phone "
                                                      "shows (GSM 7-bit)")
        texts[language] = text
    return texts


def _rate(raw: Any) -> Decimal:
    try:
        rate = Decimal(str(raw))
    except InvalidOperation:
        raise SurveyInvalid("sample_rate", "a decimal from 0 to 1, e.g. \"0.5\"") from None
    if not rate.is_finite() or not 0 <= rate <= 1:
        raise SurveyInvalid("sample_rate", "a decimal from 0 to 1, e.g. \"0.5\"")
    return rate
