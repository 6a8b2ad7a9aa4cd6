"""Who is asked when, decided from plain values: baseline first, milestones, once a month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from impact.models import ANSWERED, BASELINE, FOLLOWUP, OFFERED
from impact.panel import MIN_GAP, Milestone, PastInvitation, in_sample, plan_next

T0 = datetime(2026, 1, 5, 7, tzinfo=UTC)
CODE = "core"


def plan(now: datetime, history: list[PastInvitation], baseline: datetime | None = None,
         events: list[Milestone] | None = None, **flags: bool):  # type: ignore[no-untyped-def]
    return plan_next(now=now, survey_code=CODE, milestones=("mid_term", "repaid"),
                     sampled=flags.get("sampled", True), opted_out=flags.get("opted_out", False),
                     history=history, baseline_answered_at=baseline, events=events or [])


def test_the_first_invitation_is_the_baseline() -> None:
    assert plan(T0, []).kind == BASELINE


def test_nobody_is_asked_again_within_thirty_days_whatever_the_survey() -> None:
    asked = [PastInvitation("another-survey", BASELINE, ANSWERED, T0)]
    assert plan(T0 + timedelta(days=29), asked) is None
    assert plan(T0 + MIN_GAP, asked).kind == BASELINE


def test_opted_out_or_outside_the_sample_is_never_asked() -> None:
    assert plan(T0, [], opted_out=True) is None
    assert plan(T0, [], sampled=False) is None


def test_an_unanswered_baseline_is_offered_three_times_at_most() -> None:
    history = [PastInvitation(CODE, BASELINE, OFFERED, T0 - timedelta(days=40 * n))
               for n in range(1, 4)]
    assert plan(T0, history[:2]).key_suffix == "baseline:2"
    assert plan(T0, history) is None


def test_a_follow_up_comes_after_a_chosen_milestone_since_the_last_invitation() -> None:
    history = [PastInvitation(CODE, BASELINE, ANSWERED, T0)]
    later = T0 + timedelta(days=60)
    disbursed = Milestone("disbursed", 7, T0 + timedelta(days=5))  # not a chosen milestone
    assert plan(later, history, T0, [disbursed]) is None
    repaid = Milestone("repaid", 7, T0 + timedelta(days=50))
    planned = plan(later, history, T0, [disbursed, repaid])
    assert (planned.kind, planned.milestone, planned.loan_id) == (FOLLOWUP, "repaid", 7)
    asked = [*history, PastInvitation(CODE, FOLLOWUP, ANSWERED, later, "repaid", 7)]
    assert plan(later + timedelta(days=90), asked, T0, [disbursed, repaid]) is None


def test_milestones_before_the_baseline_do_not_count() -> None:
    history = [PastInvitation(CODE, BASELINE, ANSWERED, T0)]
    early = Milestone("repaid", 3, T0 - timedelta(days=1))
    assert plan(T0 + timedelta(days=60), history, T0, [early]) is None


def test_the_sample_is_stable_and_close_to_its_rate() -> None:
    rate = Decimal("0.3")
    picked = [m for m in range(10_000) if in_sample(m, CODE, rate)]
    assert 2_800 < len(picked) < 3_200
    assert picked == [m for m in range(10_000) if in_sample(m, CODE, rate)]
    assert not any(in_sample(m, CODE, Decimal(0)) for m in range(1000))
    assert all(in_sample(m, CODE, Decimal(1)) for m in range(1000))


days = st.integers(min_value=0, max_value=400)


@settings(max_examples=200)
@given(dials=st.lists(days, min_size=1, max_size=40),
       milestones=st.lists(st.tuples(st.sampled_from(["disbursed", "mid_term", "repaid"]),
                                     st.integers(1, 4), days), max_size=12),
       answers=st.lists(st.booleans(), min_size=40, max_size=40))
def test_a_member_is_never_asked_twice_in_thirty_days(dials, milestones, answers) -> None:
    """Dial on any days, reach any milestones, answer or not: invitations stay 30+ days apart."""
    events = [Milestone(name, loan, T0 + timedelta(days=day)) for name, loan, day in milestones]
    history: list[PastInvitation] = []
    baseline_at = None
    for n, day in enumerate(sorted(dials)):
        now = T0 + timedelta(days=day)
        planned = plan(now, history, baseline_at, [e for e in events if e.at <= now])
        if planned is None:
            continue
        answered = answers[n]
        history.append(PastInvitation(CODE, planned.kind, ANSWERED if answered else OFFERED,
                                      now, planned.milestone, planned.loan_id))
        if answered and planned.kind == BASELINE:
            baseline_at = now
    moments = sorted(past.offered_at for past in history)
    assert all(b - a >= MIN_GAP for a, b in zip(moments, moments[1:], strict=False))
    assert not history or history[0].kind == BASELINE
    followups = [(p.milestone, p.loan_id) for p in history if p.kind == FOLLOWUP]
    assert len(followups) == len(set(followups))  # each milestone of a loan asked once
