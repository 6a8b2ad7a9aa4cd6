"""The impact survey: offered once when due, answered with consent, with a way out for good.

The questions are data (`impact.definition`): one `Dynamic` node shows the current
question and takes its answer; skip rules choose the next. Answers stay in the
session until the last one, then are stored in one unit of work, so a dropped
session leaves nothing half-answered (and can be resumed).
"""

from __future__ import annotations

from menus.beyond_ports import BeyondServices, beyond_services_for
from menus.nodes import (
    Choice,
    Ctx,
    Do,
    Dynamic,
    Finish,
    Goto,
    Invalid,
    Menu,
    Outcome,
    Screen,
    is_digits,
)
from menus.ports import ServiceRefused
from menus.texts import INVALID_CHOICE, N_

OFFER = N_("Help us see how Mkopo helps you: up to {n} short questions. Your answers are "
           "private and do not change your loans.")
YES_NOW = N_("Yes, now")
NOT_NOW = N_("Not now")
NEVER = N_("Never ask me")
THANKS = N_("Thank you! Your answers help us serve you better.")
LATER = N_("OK. You can answer later: choose More services, then Survey.")
OPTED_OUT_NOW = N_("Done. We will not ask you again. To take part later, choose More "
                   "services, then Survey.")
NONE_NOW = N_("There is no survey for you now. Thank you!")
OPTED_OUT = N_("You asked not to take surveys.")
TAKE_PART = N_("Take part again")
OPTED_IN = N_("Thank you. We may ask you to take part later.")
END = "end"


def port(ctx: Ctx) -> BeyondServices:
    services = beyond_services_for(ctx.services)
    if services is None:
        raise ServiceRefused("service_unavailable")
    return services


def offer_if_due(ctx: Ctx) -> Goto | None:
    """The survey offer, when an invitation came by SMS and waits (called as a session opens)."""
    services = beyond_services_for(ctx.services)
    if services is None or ctx.state.member is None:
        return None
    offer = services.survey_on_dial(ctx.member_id)
    if offer is None:
        return None
    ctx.data.update(survey_inv=offer.invitation_id, survey_n=offer.questions, survey_on_dial=True)
    return Goto("survey.offer")


def route_survey(ctx: Ctx) -> Goto | Finish:
    """From More services: her waiting invitation, the way back in, or nothing to do."""
    services = port(ctx)
    if services.surveys_opted_out(ctx.member_id):
        return Goto("survey.opted_out")
    offer = services.open_survey(ctx.member_id)
    if offer is None:
        return Finish(ctx.t(NONE_NOW))
    ctx.data.update(survey_inv=offer.invitation_id, survey_n=offer.questions)
    return Goto("survey.offer")


def start(ctx: Ctx) -> Goto:
    """She agreed: record consent and ask the first question."""
    definition = port(ctx).start_survey(ctx.member_id, int(ctx.data["survey_inv"]))
    ctx.data.update(survey_path=[definition.first], survey_answers={}, survey_depth=None)
    return Goto("survey.q")


def show_question(ctx: Ctx) -> Outcome:
    definition = port(ctx).survey_questions(ctx.member_id, int(ctx.data["survey_inv"]))
    path: list[str] = ctx.data["survey_path"]
    depth = len(ctx.state.stack)
    previous = ctx.data.get("survey_depth")
    if previous is not None and depth < previous and len(path) > 1:
        path.pop()  # "0 Back": the engine popped one step; go back one question too
        ctx.data["survey_answers"].pop(path[-1], None)
    ctx.data["survey_depth"] = depth
    language = ctx.state.lang if ctx.state.lang in ("en", "sw") else "en"
    return Screen(definition.question(path[-1]).screen(language))


def take_answer(ctx: Ctx, answer: str) -> Outcome:
    definition = port(ctx).survey_questions(ctx.member_id, int(ctx.data["survey_inv"]))
    path: list[str] = ctx.data["survey_path"]
    question = definition.question(path[-1])
    if not is_digits(answer) or not 1 <= int(answer) <= len(question.options):
        raise Invalid(INVALID_CHOICE)
    ctx.data["survey_answers"][question.id] = int(answer)
    following = definition.after(question.id, int(answer))
    if following == END:
        return Goto("survey.save")
    path.append(following)
    return Goto("survey.q")


def save(ctx: Ctx) -> Finish:
    answers = {str(k): int(v) for k, v in ctx.data["survey_answers"].items()}
    port(ctx).submit_survey(ctx.member_id, int(ctx.data["survey_inv"]), answers)
    return Finish(ctx.t(THANKS))


def later(ctx: Ctx) -> Goto | Finish:
    port(ctx).postpone_survey(ctx.member_id, int(ctx.data["survey_inv"]))
    return _on_to_what_she_dialled_for(ctx) or Finish(ctx.t(LATER))


def never(ctx: Ctx) -> Goto | Finish:
    port(ctx).opt_out_of_surveys(ctx.member_id)
    return _on_to_what_she_dialled_for(ctx) or Finish(ctx.t(OPTED_OUT_NOW))


def _on_to_what_she_dialled_for(ctx: Ctx) -> Goto | None:
    """Offered as she dialled, a "no" goes on to her menu: ending there would cost her a dial."""
    return Goto("home") if ctx.data.get("survey_on_dial") else None


def opt_in(ctx: Ctx) -> Finish:
    port(ctx).opt_in_to_surveys(ctx.member_id)
    return Finish(ctx.t(OPTED_IN))


def _offer_params(ctx: Ctx) -> dict[str, object]:
    return {"n": ctx.data.get("survey_n", 10)}


NODES = (
    Do("survey", route_survey),
    Menu("survey.offer", OFFER, (
        Choice(YES_NOW, "survey.start"),
        Choice(NOT_NOW, "survey.later"),
        Choice(NEVER, "survey.never"),
    ), params=_offer_params),
    Do("survey.start", start, private=True),
    Dynamic("survey.q", show_question, take_answer, private=True),
    Do("survey.save", save, private=True),
    Do("survey.later", later),
    Do("survey.never", never),
    Menu("survey.opted_out", OPTED_OUT, (Choice(TAKE_PART, "survey.opt_in"),)),
    Do("survey.opt_in", opt_in),
)
