"""Bima (insurance): the member's cover, hospital cash by M-Pesa prompt, claims and their state.

Reached from the home menu's "More". Buying and claiming are signed with the
PIN again; their idempotency keys derive from the flow instance, so a repeated
request never prompts or files twice. A claim is decided by an operator, never
here: the member sees its state under "My claims".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from lending.localtime import today
from menus.insurance_ports import (
    ClaimLine,
    InsuranceRefused,
    InsuranceServices,
    PolicyLine,
    insurance_services_for,
)
from menus.nodes import Ask, Choice, Ctx, Do, Finish, Goto, Invalid, Menu, Pick, Pin, is_digits
from menus.texts import N_, REASONS

BIMA_MENU = N_("Bima insurance")
NO_COVER = N_("You have no cover yet.")
LOAN_COVER_LINE = N_("Loan {ref} life cover: {status}")
HOSPITAL_LINE = N_("Hospital cash to {date}: {nights} nights left")
HOSPITAL_WAITING = N_("Hospital cash: waiting for your M-Pesa payment")
HOSPITAL_UNPAID = N_("Hospital cash: not paid")
COVER_STATUS = {"active": N_("in force"), "settled": N_("claim paid"), "ended": N_("ended")}
HOSPITAL_ENDED = N_("Hospital cash ended {date}")
BUY_TEXT = N_("Hospital cash: pay {premium} for {days} days. We pay {benefit} for each night "
              "in hospital, up to {nights} nights.")
BUY_SENT = N_("Check your phone: M-Pesa will ask you to pay {amount} for hospital cash.")
NOTHING_TO_CLAIM = N_("You have no cover to claim on.")
WHICH_COVER = N_("Claim on which cover?")
LOAN_COVER = N_("Loan {ref} life cover")
LOAN_LIFE = N_("Loan life cover")
HOSPITAL_COVER = N_("Hospital cash")
WHAT_HAPPENED = N_("What happened?")
NIGHTS_ASK = N_("How many nights in hospital?")
NUMBER_RANGE = N_("Enter a number from {low} to {high}.")
WHEN_MENU = N_("When did it happen?")
WHEN_ASK = N_("How many days ago did it happen?")
CONFIRM_CLAIM = N_("Claim on {cover}: {what}, {date}. An officer will check it before paying.")
CAUSES = {"death": N_("death of the borrower"), "disability": N_("disability")}
NIGHTS_WHAT = N_("{nights} nights in hospital")
CLAIM_FILED = N_("Claim {ref} received. An officer will decide it. See My claims.")
NO_CLAIMS = N_("No claims yet.")
CLAIM_LINE = N_("{ref} {cover}: {status}")
CLAIM_STATUS = {
    "filed": N_("being checked"),
    "rejected": N_("rejected"),
    "approved": N_("accepted"),
    "paying": N_("being paid"),
    "paid": N_("paid {amount}"),
}
REFUSALS = {
    "already_covered": N_("You already have hospital cash, or its payment is on its way."),
    "not_covered": N_("That date is not covered."),
    "claim_open": N_("A claim on this loan is already being checked."),
    "cap_reached": N_("All nights of this period are claimed."),
    "payment_pending": REASONS["payment_pending"],
    "service_unavailable": REASONS["service_unavailable"],
}
MAX_DAYS_AGO = 90
CLAIMS_SHOWN = 4


def port(ctx: Ctx) -> InsuranceServices:
    return insurance_services_for(ctx.services)


def refused(ctx: Ctx, exc: InsuranceRefused) -> Finish:
    return Finish(ctx.t(REFUSALS.get(exc.reason_code, REFUSALS["service_unavailable"])))


def claim_ref(claim_id: int) -> str:
    return f"C{claim_id}"


# --- my cover --------------------------------------------------------------------------------


def policy_text(ctx: Ctx, policy: PolicyLine) -> str:
    if policy.kind == "credit_life":
        status = ctx.t(COVER_STATUS.get(policy.status, COVER_STATUS["active"]))
        return ctx.t(LOAN_COVER_LINE, ref=policy.loan_reference, status=status)
    if policy.status == "pending_payment":
        return ctx.t(HOSPITAL_WAITING)
    if policy.status == "unpaid" or policy.ends_on is None:
        return ctx.t(HOSPITAL_UNPAID)
    if policy.status == "ended":
        return ctx.t(HOSPITAL_ENDED, date=ctx.day(policy.ends_on))
    return ctx.t(HOSPITAL_LINE, date=ctx.day(policy.ends_on), nights=policy.nights_left)


def cover_text(ctx: Ctx) -> str:
    lines = [policy_text(ctx, p) for p in port(ctx).policies(ctx.member_id)
             if p.status != "unpaid"][:3]
    return "\n".join(lines) or ctx.t(NO_COVER)


# --- hospital cash ---------------------------------------------------------------------------


def plan_params(ctx: Ctx) -> dict[str, object]:
    plan = port(ctx).plan()
    return {"premium": ctx.money(plan.premium), "days": plan.cover_days,
            "benefit": ctx.money(plan.nightly_benefit), "nights": plan.max_nights}


def buy(ctx: Ctx) -> Finish:
    services = port(ctx)
    try:
        services.buy_hospital_cash(ctx.member_id, f"ussd:{ctx.state.flow}:bima-buy")
    except InsuranceRefused as exc:
        return refused(ctx, exc)
    return Finish(ctx.t(BUY_SENT, amount=ctx.money(services.plan().premium)))


# --- claims ----------------------------------------------------------------------------------


def cover_label(ctx: Ctx, kind: str, loan_reference: str | None) -> str:
    if kind == "credit_life":
        return ctx.t(LOAN_COVER, ref=loan_reference)
    return ctx.t(HOSPITAL_COVER)


def claimable(ctx: Ctx) -> list[PolicyLine]:
    return [p for p in port(ctx).policies(ctx.member_id) if p.claimable]


def start_claim(ctx: Ctx) -> Goto | Finish:
    """Say at once when there is nothing to claim on, not after questions."""
    return Goto("bima.claim.pick") if claimable(ctx) else Finish(ctx.t(NOTHING_TO_CLAIM))


def cover_options(ctx: Ctx) -> list[tuple[Any, str]]:
    return [({"id": p.id, "kind": p.kind, "ref": p.loan_reference,
              "nights": p.nights_left}, cover_label(ctx, p.kind, p.loan_reference))
            for p in claimable(ctx)]


def route_claim(ctx: Ctx) -> Goto:
    if ctx.data["cover"]["kind"] == "credit_life":
        return Goto("bima.claim.cause")
    ctx.data["cause"] = "hospital"
    return Goto("bima.claim.nights")


def number_between(low: int, high: Callable[[Ctx], int]) -> Callable[[Ctx, str], int]:
    def parse(ctx: Ctx, answer: str) -> int:
        top = high(ctx)
        if not is_digits(answer) or not low <= int(answer) <= top:
            raise Invalid(NUMBER_RANGE, low=low, high=top)
        return int(answer)

    return parse


def _nights_left(ctx: Ctx) -> int:
    return max(1, int(ctx.data["cover"]["nights"]))


def confirm_params(ctx: Ctx) -> dict[str, object]:
    cover = ctx.data["cover"]
    cause = str(ctx.data["cause"])
    what = (ctx.t(NIGHTS_WHAT, nights=ctx.data["nights"]) if cause == "hospital"
            else ctx.t(CAUSES[cause]))
    day = today() - timedelta(days=int(ctx.data["days_ago"]))
    return {"cover": cover_label(ctx, cover["kind"], cover["ref"]), "what": what,
            "date": ctx.day(day)}


def file_claim(ctx: Ctx) -> Finish:
    cover = ctx.data["cover"]
    try:
        claim = port(ctx).file_claim(
            ctx.member_id, int(cover["id"]), str(ctx.data["cause"]), int(ctx.data["days_ago"]),
            int(ctx.data.get("nights", 0)), f"ussd:{ctx.state.flow}:bima-claim")
    except InsuranceRefused as exc:
        return refused(ctx, exc)
    return Finish(ctx.t(CLAIM_FILED, ref=claim_ref(claim.id)))


def claim_text(ctx: Ctx, claim: ClaimLine) -> str:
    status = ctx.t(CLAIM_STATUS.get(claim.status, CLAIM_STATUS["filed"]),
                   amount=ctx.money(claim.amount, claim.currency))
    cover = ctx.t(LOAN_LIFE if claim.kind == "credit_life" else HOSPITAL_COVER)
    return ctx.t(CLAIM_LINE, ref=claim_ref(claim.id), cover=cover, status=status)


def claims_text(ctx: Ctx) -> str:
    lines = [claim_text(ctx, c) for c in port(ctx).claims(ctx.member_id, CLAIMS_SHOWN)]
    return "\n".join(lines) or ctx.t(NO_CLAIMS)


NODES = (
    Menu("bima", BIMA_MENU, private=True, choices=(
        Choice(N_("My cover"), "bima.cover"),
        Choice(N_("Buy hospital cash"), "bima.buy"),
        Choice(N_("Make a claim"), "bima.claim"),
        Choice(N_("My claims"), "bima.claims"),
    )),
    Menu("bima.cover", cover_text, private=True),
    Menu("bima.buy", BUY_TEXT, params=plan_params, private=True, choices=(
        Choice(N_("Buy"), "bima.buy.sign"),
        Choice(N_("Cancel"), "bima"),
    )),
    Pin("bima.buy.sign", goto="bima.buy.do", always=True, private=True),
    Do("bima.buy.do", buy, private=True),
    Do("bima.claim", start_claim, private=True),
    Pick("bima.claim.pick", WHICH_COVER, "cover", cover_options, "bima.claim.route",
         private=True),
    Do("bima.claim.route", route_claim, private=True),
    Menu("bima.claim.cause", WHAT_HAPPENED, private=True, choices=tuple(
        Choice(label, "bima.claim.when", sets=(("cause", cause),))
        for cause, label in CAUSES.items())),
    Ask("bima.claim.nights", NIGHTS_ASK, "nights", number_between(1, _nights_left),
        "bima.claim.when", private=True),
    # "0" is Back on every screen, so "today" is a choice rather than a typed 0
    Menu("bima.claim.when", WHEN_MENU, private=True, choices=(
        Choice(N_("Today"), "bima.claim.confirm", sets=(("days_ago", 0),)),
        Choice(N_("Yesterday"), "bima.claim.confirm", sets=(("days_ago", 1),)),
        Choice(N_("Another day"), "bima.claim.days"),
    )),
    Ask("bima.claim.days", WHEN_ASK, "days_ago", number_between(2, lambda _: MAX_DAYS_AGO),
        "bima.claim.confirm", private=True),
    Menu("bima.claim.confirm", CONFIRM_CLAIM, params=confirm_params, private=True, choices=(
        Choice(N_("Confirm"), "bima.claim.sign"),
        Choice(N_("Cancel"), "bima"),
    )),
    Pin("bima.claim.sign", goto="bima.claim.do", always=True, private=True),
    Do("bima.claim.do", file_claim, private=True),
    Menu("bima.claims", claims_text, private=True),
)
