"""My account (PIN, language, reminders), help, and complaint or hardship tickets."""

from __future__ import annotations

from dataclasses import replace

from menus import validators as v
from menus.nodes import (
    PIN_FORMAT,
    Ask,
    Choice,
    Ctx,
    Do,
    Finish,
    Invalid,
    Menu,
    is_digits,
    member_to_dict,
    pin_locked_text,
)
from menus.ports import REMINDER_CHOICES
from menus.texts import N_

REMINDER_LABELS = {
    "before_and_due": N_("Before and on the due date"),
    "due_day": N_("On the due date only"),
    "off": N_("No reminders"),
}
PIN_CHANGED = N_("Your PIN has been changed.")
PIN_NOT_CHANGED = N_("Your current PIN was wrong, so nothing changed. Tries left: "
                     "{tries}.")
LANGUAGE_CHANGED = N_("Language changed.")
REMINDERS_NOW = N_("SMS reminders now: {current}")
REMINDERS_SAVED = N_("Your reminder choice is saved.")
HELP_TEXT = N_("Pay by M-Pesa: Paybill {paybill}, account {account}.\nHelp: call {phone} "
               "(free).")
CALL_US = N_("Help: call {phone} (free).")
TICKET_OPENED = N_("Thank you. Your request {ref} is received. We will call you within "
                   "2 working days.")


def any_pin(_ctx: Ctx, answer: str) -> str:
    """A PIN-shaped answer; whether it is right is the domain's call."""
    if not (len(answer) == 4 and is_digits(answer)):
        raise Invalid(PIN_FORMAT)
    return answer


def save_pin(ctx: Ctx) -> Finish:
    """Change the PIN; a wrong current PIN counts towards the lockout."""
    result = ctx.services.change_pin(ctx.member_id, ctx.data["old_pin"], ctx.data["new_pin"])
    if result.ok:
        return Finish(ctx.t(PIN_CHANGED))
    if result.locked_until is not None:
        return Finish(pin_locked_text(ctx, result.locked_until))
    return Finish(ctx.t(PIN_NOT_CHANGED, tries=result.tries_left))


def _remember(ctx: Ctx, language: str | None = None, reminders: str | None = None) -> None:
    """Keep the session's copy of the member in step with what the domain now holds."""
    member = ctx.member
    if member is None:
        return
    if language is not None:
        member = replace(member, language=language)
    if reminders is not None:
        member = replace(member, reminders=reminders)
    ctx.state.member = member_to_dict(member)


def save_language(ctx: Ctx) -> Finish:
    """Remember the language and answer in it at once."""
    language = str(ctx.data["language"])
    ctx.services.set_language(ctx.member_id, language)
    ctx.state.lang = language
    _remember(ctx, language=language)
    return Finish(ctx.t(LANGUAGE_CHANGED))


def reminders_title(ctx: Ctx) -> str:
    member = ctx.member
    current = REMINDER_LABELS.get(member.reminders if member else "", REMINDER_LABELS["off"])
    return ctx.t(REMINDERS_NOW, current=ctx.t(current))


def save_reminders(ctx: Ctx) -> Finish:
    preference = str(ctx.data["reminders"])
    ctx.services.set_reminders(ctx.member_id, preference)
    _remember(ctx, reminders=preference)
    return Finish(ctx.t(REMINDERS_SAVED))


def help_screen(ctx: Ctx) -> str:
    """How to pay and whom to call, for members and strangers alike."""
    member = ctx.member
    if member is not None and member.account:
        # the account read as the session opened (a session lasts minutes): no look-up
        info = replace(ctx.services.help_info(None), account=member.account)
    else:
        info = ctx.services.help_info(member.id if member else None)
    if not info.account:
        return ctx.t(CALL_US, phone=info.support_phone)
    return ctx.t(HELP_TEXT, paybill=info.paybill, account=info.account,
                 phone=info.support_phone)


def submit_ticket(ctx: Ctx) -> Finish:
    reference = ctx.services.open_ticket(ctx.member_id, ctx.data["kind"], ctx.data["text"])
    return Finish(ctx.t(TICKET_OPENED, ref=reference))


NODES = (
    Menu("account", N_("My account"), (
        Choice(N_("Change PIN"), "account.pin_old"),
        Choice(N_("Change language"), "account.language"),
        Choice(N_("SMS reminders"), "account.reminders"),
    ), private=True),
    Ask("account.pin_old", N_("Enter your current PIN"), "old_pin", any_pin, "account.pin_new",
        secret=True),
    Ask("account.pin_new", N_("Enter a new 4-digit PIN"), "new_pin", v.new_pin,
        "account.pin_new2", secret=True),
    Ask("account.pin_new2", N_("Enter the new PIN again"), "new_pin2", v.same_as("new_pin"),
        "account.pin_save", secret=True),
    Do("account.pin_save", save_pin),
    Menu("account.language", N_("Choose your language"), (
        Choice(N_("English"), "account.language.save", sets=(("language", "en"),)),
        Choice(N_("Kiswahili"), "account.language.save", sets=(("language", "sw"),)),
    )),
    Do("account.language.save", save_language),
    Menu("account.reminders", reminders_title, tuple(
        Choice(REMINDER_LABELS[p], "account.reminders.save", sets=(("reminders", p),))
        for p in REMINDER_CHOICES)),
    Do("account.reminders.save", save_reminders),
    Menu("help", help_screen),
    Menu("ticket.kind", N_("What do you need?"), (
        Choice(N_("Make a complaint"), "ticket.text", sets=(("kind", "complaint"),)),
        Choice(N_("I cannot repay on time"), "ticket.text", sets=(("kind", "hardship"),)),
    )),
    Ask("ticket.text", N_("Briefly describe the problem"), "text", v.short_text, "ticket.submit",
        free_text=True),
    Do("ticket.submit", submit_ticket),
)
