"""Where every session starts: the welcome and home menus, resuming, and the PIN gate."""

from __future__ import annotations

from menus.flows.survey import offer_if_due
from menus.flows.titles import FLOW_TITLES
from menus.nodes import Choice, Ctx, Do, Finish, Goto, Menu, Pin
from menus.ports import ACTIVE, PENDING
from menus.texts import N_

INACTIVE = N_("Your account is not active. Please call {phone} for help.")
RESUME_TITLE = N_("You did not finish: {flow}.")
MAIN_MENU = N_("Main menu")


def _first_name(ctx: Ctx) -> dict[str, object]:
    member = ctx.member
    return {"name": member.first_name if member else ""}


def route_home(ctx: Ctx) -> Goto | Finish:
    """Send strangers to the welcome, members to the menu their status allows."""
    member = ctx.member
    if member is None:
        return Goto("welcome")
    if member.status in (ACTIVE, PENDING) and not ctx.state.stack and not ctx.state.text:
        offer = offer_if_due(ctx)  # only as a session opens: once, never on "00"
        if offer is not None:
            return offer
    if member.status == ACTIVE:
        return Goto("home.active")
    if member.status == PENDING:
        return Goto("home.pending")
    return Finish(ctx.t(INACTIVE, phone=ctx.services.help_info(member.id).support_phone))


def switch_language(ctx: Ctx) -> Goto:
    """Show the welcome again in the other language."""
    ctx.state.lang = "en" if ctx.state.lang == "sw" else "sw"
    return Goto("welcome")


def continue_flow(ctx: Ctx) -> Goto:
    """Put back the flow the last session dropped (the engine prepared the snapshot)."""
    snapshot = ctx.data.get("_resume") or {}
    ctx.state.stack = list(snapshot.get("stack", []))
    ctx.state.data = dict(snapshot.get("data", {}))
    ctx.state.flow = str(snapshot.get("flow", ""))
    return Goto(str(snapshot.get("node", "home")))


def resume_title(ctx: Ctx) -> str:
    flow = str((ctx.data.get("_resume") or {}).get("node", "")).split(".")[0]
    return ctx.t(RESUME_TITLE, flow=ctx.t(FLOW_TITLES.get(flow, MAIN_MENU)))


NODES = (
    Do("home", route_home),
    Menu("welcome", N_("Welcome to Mkopo, loans on your phone."), nav=False, choices=(
        Choice(N_("Register"), "reg.name"),
        Choice(N_("Help"), "help"),
        # The label is written in the language it switches to, so its reader can find it.
        Choice(N_("Soma kwa Kiswahili"), "welcome.language"),
    )),
    Do("welcome.language", switch_language),
    Menu("home.active", N_("Hi {name}, welcome to Mkopo."), params=_first_name, nav=False,
         choices=(
             Choice(N_("My balance"), "balance"),
             Choice(N_("Apply for a loan"), "apply.product"),
             Choice(N_("Repay loan"), "repay.choose"),
             Choice(N_("Mini statement"), "statement"),
             Choice(N_("My account"), "account"),
             Choice(N_("Help"), "help"),
             Choice(N_("Complaint or hardship"), "ticket.kind"),
             Choice(N_("Lend"), "lend"),
             # New services go under "More", so the home screen stays within 182 characters.
             Choice(N_("More"), "more"),
         )),
    Menu("more", N_("More services"), private=True, choices=(
        Choice(N_("Akiba savings"), "save"),
        Choice(N_("Bima insurance"), "bima"),
        Choice(N_("Learn"), "learn"),
        Choice(N_("Survey"), "survey"),
    )),
    Menu("home.pending", N_("Hi {name}, we are still verifying your registration."),
         params=_first_name, nav=False, choices=(
             Choice(N_("Help"), "help"),
             Choice(N_("Complaint or hardship"), "ticket.kind"),
             Choice(N_("Change language"), "account.language"),
         )),
    Menu("resume", resume_title, nav=False, choices=(
        Choice(N_("Continue"), "resume.continue"),
        Choice(N_("Start again"), "home"),
    )),
    Do("resume.continue", continue_flow),
    Pin("pin"),
)
