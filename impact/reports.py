"""Change from baseline, by cohort, field partner, gender or sector; nothing that identifies.

A member counts in a cell when she answered the baseline and at least one follow-up of
the survey; her latest follow-up is compared with her baseline, dimension by
dimension (a paired difference, so a cell's change is the mean of its members'
changes, with a 95% t interval). Cells with fewer than `min_n` members (never below
`statistics.MIN_CELL`) show their size class only. Groups:
- cohort: the calendar quarter of her baseline answer, e.g. `2026-Q3`;
- field_partner: the partner that verified her;
- gender: `f`, `m`, `x` or `unknown`;
- sector: her sector as registered (`other` when blank).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from impact.models import BASELINE, FOLLOWUP, Survey, SurveyResponse
from impact.statistics import MIN_CELL, Estimate, mean_interval, paired_change
from impact.surveys import definition_of
from lending.models import FieldPartner, Member

GROUPINGS = ("all", "cohort", "field_partner", "gender", "sector")


@dataclass(frozen=True, slots=True)
class Pair:
    """One member's baseline and latest follow-up scores, and the attributes groups use."""

    baseline_at: datetime
    baseline: dict[str, str | None]
    followup: dict[str, str | None]
    gender: str | None
    sector: str | None
    field_partner: str | None


def cohort_of(moment: datetime) -> str:
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


GROUP_OF: dict[str, Callable[[Pair], str]] = {
    "all": lambda pair: "all",
    "cohort": lambda pair: cohort_of(pair.baseline_at),
    "field_partner": lambda pair: pair.field_partner or "none",
    "gender": lambda pair: pair.gender or "unknown",
    "sector": lambda pair: pair.sector or "other",
}


def pairs(session: Session, survey_id: int, field_partner_id: int | None = None) -> list[Pair]:
    """Every member with a baseline and a follow-up of this survey (optionally one partner's)."""
    query = (
        select(SurveyResponse, Member.gender, Member.sector, FieldPartner.name)
        .join(Member, Member.id == SurveyResponse.member_id)
        .outerjoin(FieldPartner, FieldPartner.id == Member.field_partner_id)
        .where(SurveyResponse.survey_id == survey_id)
        .order_by(SurveyResponse.completed_at, SurveyResponse.id)
    )
    if field_partner_id is not None:
        query = query.where(Member.field_partner_id == field_partner_id)
    baseline: dict[int, tuple[SurveyResponse, Any, Any, Any]] = {}
    latest: dict[int, SurveyResponse] = {}
    for response, gender, sector, partner in session.execute(query):
        if response.kind == BASELINE:
            baseline[response.member_id] = (response, gender, sector, partner)
        elif response.kind == FOLLOWUP:
            latest[response.member_id] = response  # ordered by time: the last one wins
    return [
        Pair(base.completed_at, base.scores, latest[member].scores, gender, sector, partner)
        for member, (base, gender, sector, partner) in baseline.items() if member in latest
    ]


def change_report(session: Session, survey: Survey, by: str = "all", *,
                  field_partner_id: int | None = None, min_n: int = MIN_CELL
                  ) -> dict[str, Any]:
    """Baseline, follow-up and change per dimension for each group, small cells suppressed."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}")
    min_n = max(min_n, MIN_CELL)
    definition = definition_of(survey)
    groups: dict[str, list[Pair]] = defaultdict(list)
    for pair in pairs(session, survey.id, field_partner_id):
        groups[GROUP_OF[by](pair)].append(pair)
    hidden = suppressed_groups({name: len(members) for name, members in groups.items()}, min_n)
    rows = []
    for name in sorted(groups):
        members = groups[name]
        if name in hidden:
            rows.append({"group": name, "n": f"<{min_n}" if len(members) < min_n else "hidden",
                         "suppressed": True})
            continue
        row: dict[str, Any] = {"group": name, "n": len(members), "suppressed": False,
                               "dimensions": {}}
        for dimension in definition.dimensions:
            row["dimensions"][dimension] = _cell(members, dimension, min_n)
        rows.append(row)
    return {"survey": survey.code, "by": by, "min_n": min_n,
            "dimensions": list(definition.dimensions), "groups": rows,
            "method": "paired change (latest follow-up - baseline) per member, 0-100 scale; "
                      "95% Student t interval; cells under min_n suppressed"}


def suppressed_groups(sizes: dict[str, int], min_n: int) -> set[str]:
    """Groups to hide: the small ones, and then the smallest others until the hidden total
    reaches `min_n`, so a small group cannot be recovered by subtracting the rest from
    the platform's total (secondary suppression)."""
    hidden = {name for name, size in sizes.items() if size < min_n}
    shown = sorted((size, name) for name, size in sizes.items() if name not in hidden)
    while hidden and sum(sizes[name] for name in hidden) < min_n and shown:
        hidden.add(shown.pop(0)[1])
    return hidden


def _cell(members: list[Pair], dimension: str, min_n: int) -> dict[str, Any]:
    both = [(float(p.baseline[dimension] or 0), float(p.followup[dimension] or 0))
            for p in members
            if p.baseline.get(dimension) is not None and p.followup.get(dimension) is not None]
    before = [b for b, _ in both]
    after = [a for _, a in both]
    return {
        "baseline": _json(mean_interval(before, min_n=min_n), min_n, SCORE_RANGE),
        "followup": _json(mean_interval(after, min_n=min_n), min_n, SCORE_RANGE),
        "change": _json(paired_change(before, after, min_n=min_n), min_n, CHANGE_RANGE),
    }


SCORE_RANGE, CHANGE_RANGE = (0.0, 100.0), (-100.0, 100.0)
"""What a score (and a change of score) can be: intervals are cut to it when shown."""


def _json(estimate: Estimate, min_n: int, bounds: tuple[float, float]) -> dict[str, object]:
    if estimate.suppressed:
        return {"n": f"<{min_n}", "suppressed": True}  # even a small cell's count is withheld
    body = estimate.to_json()
    low, high = estimate.ci_low or 0.0, estimate.ci_high or 0.0
    body["ci95"] = [round(max(bounds[0], low), 1), round(min(bounds[1], high), 1)]
    return body


def respondents(session: Session, survey_id: int, field_partner_id: int | None = None
                ) -> dict[str, int]:
    """How many baseline and follow-up answers the survey has (counts only)."""
    query = (select(SurveyResponse.kind, SurveyResponse.member_id)
             .join(Member, Member.id == SurveyResponse.member_id)
             .where(SurveyResponse.survey_id == survey_id))
    if field_partner_id is not None:
        query = query.where(Member.field_partner_id == field_partner_id)
    counts = {BASELINE: 0, FOLLOWUP: 0}
    for kind, _member in session.execute(query):
        counts[kind] = counts.get(kind, 0) + 1
    return counts
