"""Registration: name, national ID, PIN twice, language, consent; the member then awaits checks."""

from __future__ import annotations

from menus import validators as v
from menus.nodes import Ask, Choice, Ctx, Do, End, Finish, Goto, Menu, member_to_dict
from menus.texts import N_

REGISTERED = N_("Thank you {name}. We are checking your details and will send you an SMS "
                "when you can borrow.")
CONSENT = N_("Mkopo keeps your name, ID and phone number to assess loans and shares them only "
             "with your lender and field partner. Terms: mkopo.co.ke/terms")


def set_language(ctx: Ctx) -> Goto:
    """Speak the chosen language from the next screen on."""
    ctx.state.lang = str(ctx.data.get("language", ctx.state.lang))
    return Goto("reg.consent")


def submit(ctx: Ctx) -> Finish:
    """Register the member, pending verification by a field partner."""
    member = ctx.services.register(
        ctx.state.phone, ctx.data["name"], ctx.data["national_id"], ctx.data["pin"],
        ctx.state.lang, True,
    )
    ctx.state.member = member_to_dict(member)
    return Finish(ctx.t(REGISTERED, name=member.first_name))


def _code(ctx: Ctx) -> dict[str, object]:
    return {"code": ctx.service_code}


LANGUAGE_CHOICES = (
    Choice(N_("English"), "reg.language.set", sets=(("language", "en"),)),
    Choice(N_("Kiswahili"), "reg.language.set", sets=(("language", "sw"),)),
)

NODES = (
    Ask("reg.name", N_("Enter your full name"), "name", v.full_name, "reg.id"),
    Ask("reg.id", N_("Enter your national ID number"), "national_id", v.national_id, "reg.pin"),
    Ask("reg.pin", N_("Choose a 4-digit PIN"), "pin", v.new_pin, "reg.pin2", secret=True),
    Ask("reg.pin2", N_("Enter the same PIN again"), "pin2", v.same_as("pin"), "reg.language",
        secret=True),
    Menu("reg.language", N_("Choose your language"), LANGUAGE_CHOICES),
    Do("reg.language.set", set_language),
    Menu("reg.consent", CONSENT, (
        Choice(N_("I agree"), "reg.submit"),
        Choice(N_("I do not agree"), "reg.declined"),
    )),
    Do("reg.submit", submit),
    End("reg.declined", N_("Without your agreement we cannot register you. Dial {code} any "
                           "time to start again."), _code),
)
