"""Change from baseline on the database: paired means and intervals by group, small cells
hidden (and their complements), a field partner's own borrowers only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.clock import utcnow
from impact.reports import change_report, respondents


@pytest.fixture
def answered(world):
    """Five women of partner A, five men of partner B, one woman of partner C."""
    survey = world.survey()
    a, b, c = world.partner("A"), world.partner("B"), world.partner("C")
    start = utcnow()
    women = [(1, 3), (2, 3), (1, 2), (2, 4), (3, 3)]  # sales +50 +25 +25 +75 0
    men = [(1, 2), (1, 2), (2, 3), (2, 2), (1, 3)]  # +25 +25 +25 0 +50
    for before, after in women:
        world.baseline_and_followup(world.member(a, sector="retail"), {"sales": before,
                                    "meals": 1}, {"sales": after, "meals": 2}, start)
    for before, after in men:
        world.baseline_and_followup(world.member(b, gender="m", sector="farming"),
                                    {"sales": before, "meals": 2}, {"sales": after, "meals": 2},
                                    start)
    world.baseline_and_followup(world.member(c, sector="retail"), {"sales": 1, "meals": 1},
                                {"sales": 4, "meals": 1}, start)
    world.answer(world.member(a), {"sales": 1, "meals": 1}, start)  # a baseline only
    return survey, {"A": a, "B": b, "C": c}


def group(report, name):
    return next(row for row in report["groups"] if row["group"] == name)


def test_change_by_gender_with_intervals_worked_by_hand(session, answered) -> None:
    survey, _ = answered
    report = change_report(session, survey, "gender")
    men = group(report, "m")
    assert men["n"] == 5
    business = men["dimensions"]["business"]
    # before 0 0 25 25 0 (mean 10); changes 25 25 25 0 50: mean 25, s = 17.678,
    # half-width 2.776 x 17.678 / sqrt 5 = 21.947
    assert business["baseline"]["mean"] == 10.0
    assert business["change"] == {"n": 5, "suppressed": False, "mean": 25.0,
                                  "ci95": [3.1, 46.9]}
    assert men["dimensions"]["home"]["change"]["mean"] == 0.0
    women = group(report, "f")
    assert women["n"] == 6
    assert women["dimensions"]["business"]["change"]["mean"] == pytest.approx(45.8, abs=0.05)


def test_a_small_group_is_hidden_with_its_smallest_complement(session, answered) -> None:
    survey, partners = answered
    report = change_report(session, survey, "field_partner")
    c = group(report, "C")
    assert c == {"group": "C", "n": "<5", "suppressed": True}
    hidden = [row["group"] for row in report["groups"] if row["suppressed"]]
    assert len(hidden) == 2  # C and one partner of five: C cannot be found by subtraction
    shown = [row for row in report["groups"] if not row["suppressed"]]
    assert len(shown) == 1 and shown[0]["n"] == 5


def test_everyone_together_and_by_cohort(session, answered) -> None:
    survey, _ = answered
    everyone = change_report(session, survey, "all")["groups"]
    assert [row["n"] for row in everyone] == [11]
    cohorts = change_report(session, survey, "cohort")["groups"]
    assert [row["group"] for row in cohorts] == ["2026-Q1"]


def test_a_field_partner_sees_only_its_own_borrowers(session, answered) -> None:
    survey, partners = answered
    report = change_report(session, survey, "all", field_partner_id=partners["B"].id)
    assert report["groups"][0]["n"] == 5
    assert respondents(session, survey.id, partners["A"].id) == {"baseline": 6, "followup": 5}


def test_a_larger_minimum_cell_hides_more(session, answered) -> None:
    survey, _ = answered
    report = change_report(session, survey, "gender", min_n=6)
    assert group(report, "m")["suppressed"] and report["min_n"] == 6


def test_the_latest_follow_up_is_compared_with_the_baseline(world, session) -> None:
    survey = world.survey()
    start = utcnow()
    for _ in range(5):
        member = world.member()
        world.answer(member, {"sales": 1, "meals": 1}, start)
        first = world.loan(member, at=start + timedelta(days=10))
        world.answer(member, {"sales": 2, "meals": 1}, start + timedelta(days=40))
        world.repay(first, 104_000)  # KES 1,040: repaid in full
        world.loan(member, at=start + timedelta(days=50))
        world.answer(member, {"sales": 4, "meals": 1}, start + timedelta(days=80))
    report = change_report(session, survey, "all")
    assert report["groups"][0]["dimensions"]["business"]["change"]["mean"] == 100.0
