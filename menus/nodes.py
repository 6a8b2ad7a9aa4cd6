"""The building blocks flows are declared with, and the context a step runs in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.clock import utcnow
from core.money import format_money
from menus.ports import BorrowerServices, MemberView, needs_unlock
from menus.texts import INVALID_CHOICE, N_, translate

ENTER_PIN = N_("Enter your PIN")
PIN_FORMAT = N_("Your PIN is 4 digits.")
WRONG_PIN = N_("Wrong PIN. Tries left: {tries}.")
PIN_LOCKED = N_("Too many wrong PINs. Your PIN is locked until {time}. Please try again then.")
PIN_BLOCKED = N_("Too many wrong PINs. Your PIN is locked. To unlock it, visit your field "
                 "partner or call {phone}.")


class Invalid(Exception):
    """The answer cannot be taken; the screen is shown again with this short reason."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


@dataclass(frozen=True, slots=True)
class Goto:
    """Move on to another node."""

    node: str


@dataclass(frozen=True, slots=True)
class Finish:
    """Close the session with this (translated) text."""

    text: str


@dataclass(frozen=True, slots=True)
class Screen:
    """Wait for an answer on this (translated) body; `nav` adds the Back/Home line."""

    body: str
    nav: bool = True


Outcome = Goto | Finish | Screen


@dataclass
class SessionState:
    """Everything a step needs to survive between requests (stored as JSON in Redis)."""

    session_id: str
    phone: str
    lang: str = "en"
    member: dict[str, Any] | None = None
    node: str = ""
    page: int = 0
    pages: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    flow: str = ""  # the flow instance id: idempotency keys of money actions derive from it
    tries: int = 0
    pin_ok: bool = False
    after_pin: str = ""
    choices: list[Any] = field(default_factory=list)
    text: str = ""  # the answer path handled so far, PINs masked (engine.PIN_MASK)
    masked: list[int] = field(default_factory=list)  # where in `text` PINs were typed
    ended: bool = False


def member_to_dict(member: MemberView) -> dict[str, Any]:
    locked = member.locked_until.isoformat() if member.locked_until else None
    return {"id": member.id, "first_name": member.first_name, "language": member.language,
            "status": member.status, "locked_until": locked, "reminders": member.reminders,
            "account": member.account}


def member_from_dict(raw: dict[str, Any]) -> MemberView:
    locked = datetime.fromisoformat(raw["locked_until"]) if raw.get("locked_until") else None
    return MemberView(id=raw["id"], first_name=raw["first_name"], language=raw["language"],
                      status=raw["status"], locked_until=locked, reminders=raw["reminders"],
                      account=raw.get("account"))


@dataclass
class Ctx:
    """One request's view of the session, the domain and the house formats."""

    state: SessionState
    services: BorrowerServices
    currency: str = "KES"
    timezone: str = "Africa/Nairobi"
    service_code: str = "*384*123#"

    @property
    def data(self) -> dict[str, Any]:
        return self.state.data

    @property
    def member(self) -> MemberView | None:
        return member_from_dict(self.state.member) if self.state.member else None

    @property
    def member_id(self) -> int:
        if self.state.member is None:
            raise LookupError("this step needs a registered member")
        return int(self.state.member["id"])

    def t(self, message: str, **params: object) -> str:
        return translate(self.state.lang, message, **params)

    def money(self, minor: int, currency: str | None = None) -> str:
        return format_money(minor, currency or self.currency)

    def day(self, value: date) -> str:
        return value.strftime("%d/%m/%Y")

    def clock_time(self, value: datetime) -> str:
        return value.astimezone(ZoneInfo(self.timezone)).strftime("%H:%M")

    def locked_until(self) -> datetime | None:
        """The lock recorded when the session started, if it still holds."""
        member = self.member
        if member and member.locked_until and member.locked_until > utcnow():
            return member.locked_until
        return None


Params = Callable[[Ctx], dict[str, object]]
Text = str | Callable[[Ctx], str]


def _no_params(_ctx: Ctx) -> dict[str, object]:
    return {}


def _render(ctx: Ctx, text: Text, params: Params) -> str:
    return text(ctx) if callable(text) else ctx.t(text, **params(ctx))


@dataclass(frozen=True)
class Choice:
    """A numbered option: its label (a source string), where it goes, what it records."""

    label: str
    goto: str
    sets: tuple[tuple[str, Any], ...] = ()


def is_digits(answer: str) -> bool:
    """ASCII digits only: `str.isdigit` also accepts '²' and other scripts' digits."""
    return answer.isascii() and answer.isdigit()


def _pick(choices: tuple[Any, ...] | list[Any], answer: str) -> Any:
    if not is_digits(answer) or not 1 <= int(answer) <= len(choices):
        raise Invalid(INVALID_CHOICE)
    return choices[int(answer) - 1]


@dataclass(frozen=True)
class Menu:
    """A title (source string or render function) and numbered choices."""

    id: str
    title: Text
    choices: tuple[Choice, ...] = ()
    params: Params = _no_params
    private: bool = False
    nav: bool = True

    def enter(self, ctx: Ctx) -> Outcome:
        lines = [_render(ctx, self.title, self.params)]
        lines += [f"{n} {ctx.t(c.label)}" for n, c in enumerate(self.choices, 1)]
        return Screen("\n".join(line for line in lines if line), self.nav)

    def accept(self, ctx: Ctx, answer: str) -> Outcome:
        choice: Choice = _pick(self.choices, answer)
        ctx.data.update(dict(choice.sets))
        return Goto(choice.goto)


@dataclass(frozen=True)
class Ask:
    """A prompt whose answer is parsed (or refused with a reason) into `data[field]`."""

    id: str
    prompt: str
    field: str
    parse: Callable[[Ctx, str], Any]
    goto: str
    params: Params = _no_params
    secret: bool = False  # never leaves the live session (not kept for resuming)
    free_text: bool = False  # takes the rest of the answer path, `*` included
    private: bool = False

    def enter(self, ctx: Ctx) -> Outcome:
        return Screen(ctx.t(self.prompt, **self.params(ctx)))

    def accept(self, ctx: Ctx, answer: str) -> Outcome:
        ctx.data[self.field] = self.parse(ctx, answer)
        return Goto(self.goto)


@dataclass(frozen=True)
class Pick:
    """A prompt over options computed from the domain; the chosen value goes to `data[field]`."""

    id: str
    prompt: str
    field: str
    options: Callable[[Ctx], list[tuple[Any, str]]]
    goto: str
    private: bool = False

    def enter(self, ctx: Ctx) -> Outcome:
        options = self.options(ctx)
        ctx.state.choices = [value for value, _ in options]
        lines = [ctx.t(self.prompt)] + [f"{n} {label}" for n, (_, label) in
                                        enumerate(options, 1)]
        return Screen("\n".join(lines))

    def accept(self, ctx: Ctx, answer: str) -> Outcome:
        ctx.data[self.field] = _pick(ctx.state.choices, answer)
        return Goto(self.goto)


@dataclass(frozen=True)
class Do:
    """An action without a screen: calls the domain and says where to go or what to end on."""

    id: str
    run: Callable[[Ctx], Goto | Finish]
    private: bool = False

    def enter(self, ctx: Ctx) -> Outcome:
        return self.run(ctx)

    def accept(self, ctx: Ctx, answer: str) -> Outcome:  # pragma: no cover - never waits
        raise Invalid(INVALID_CHOICE)


@dataclass(frozen=True)
class Pin:
    """The PIN check; skipped when already passed this session unless `always` (a signature)."""

    id: str
    goto: str = ""  # empty: go where the private node that asked for the check wanted
    always: bool = False
    private: bool = False

    def enter(self, ctx: Ctx) -> Outcome:
        if ctx.state.pin_ok and not self.always:
            return Goto(self._next(ctx))
        locked = ctx.locked_until()
        if locked is not None:
            return Finish(pin_locked_text(ctx, locked))
        return Screen(ctx.t(ENTER_PIN))

    def accept(self, ctx: Ctx, answer: str) -> Outcome:
        if not (len(answer) == 4 and is_digits(answer)):
            raise Invalid(PIN_FORMAT)
        result = ctx.services.verify_pin(ctx.member_id, answer)
        if result.ok:
            ctx.state.pin_ok = True
            return Goto(self._next(ctx))
        if result.locked_until is not None:
            return Finish(pin_locked_text(ctx, result.locked_until))
        raise Invalid(WRONG_PIN, tries=result.tries_left)

    def _next(self, ctx: Ctx) -> str:
        return self.goto or ctx.state.after_pin or "home"


def pin_locked_text(ctx: Ctx, until: datetime) -> str:
    """Until when the PIN is locked, or, locked until unlocked, who can unlock it."""
    if needs_unlock(until):
        return ctx.t(PIN_BLOCKED, phone=ctx.services.help_info(None).support_phone)
    local = until.astimezone(ZoneInfo(ctx.timezone))
    today = utcnow().astimezone(ZoneInfo(ctx.timezone)).date()
    when = local.strftime("%H:%M" if local.date() == today else "%d/%m %H:%M")
    return ctx.t(PIN_LOCKED, time=when)


@dataclass(frozen=True)
class End:
    """A closing screen with a fixed message."""

    id: str
    message: str
    params: Params = _no_params
    private: bool = False

    def enter(self, ctx: Ctx) -> Outcome:
        return Finish(ctx.t(self.message, **self.params(ctx)))

    def accept(self, ctx: Ctx, answer: str) -> Outcome:  # pragma: no cover - never waits
        raise Invalid(INVALID_CHOICE)


@dataclass(frozen=True)
class Dynamic:
    """A screen whose words and choices are data (a survey's questions): both are functions."""

    id: str
    show: Callable[[Ctx], Outcome]
    take: Callable[[Ctx, str], Outcome]
    private: bool = False

    def enter(self, ctx: Ctx) -> Outcome:
        return self.show(ctx)

    def accept(self, ctx: Ctx, answer: str) -> Outcome:
        return self.take(ctx, answer)


Node = Menu | Ask | Pick | Do | Pin | End | Dynamic
