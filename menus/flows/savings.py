"""Akiba savings: balances, deposits by M-Pesa prompt, withdrawals, goals, the member's chama.

Reached from the home menu's "More". Money actions have idempotency keys
derived from the flow instance, so a repeated request never prompts or pays
twice; a withdrawal asks for the PIN again as a signature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.gsm7 import to_gsm7, truncate_septets
from lending.localtime import today
from lending.schedule import add_months
from menus.flows.lender import shillings
from menus.nodes import Ask, Choice, Ctx, Do, Finish, Goto, Invalid, Menu, Pick, Pin
from menus.savings_ports import AccountLine, SavingsRefused, SavingsServices, savings_services_for
from menus.texts import N_, REASONS

SAVINGS_MENU = N_("Akiba savings")
GOAL_LINE = N_("{goal}: {amount} of {target}")
LOCKED_LINE = N_("(locked to {date})")
RATE_LINE = N_("Interest: {rate}% a year, paid monthly")
WHICH_DEPOSIT = N_("Deposit into which account?")
DEPOSIT_ASK = N_("Deposit how much, in KES?")
DEPOSIT_CONFIRM = N_("Deposit {amount} into {goal} from your M-Pesa?")
DEPOSIT_SENT = N_("Check your phone: M-Pesa will ask you to pay {amount} into your savings.")
WHICH_WITHDRAW = N_("Withdraw from which account?")
WITHDRAW_ASK = N_("Withdraw how much to M-Pesa, in KES? Up to {amount}.")
WITHDRAW_CONFIRM = N_("Withdraw {amount} from {goal} to your M-Pesa?")
WITHDRAW_SENT = N_("{amount} is on its way to your M-Pesa.")
WITHDRAW_HELD = N_("Your withdrawal of {amount} will be sent once we have checked it. "
                   "We will SMS you.")
NOTHING_TO_WITHDRAW = N_("There is nothing you can withdraw now.")
GOAL_NAME_ASK = N_("Name your goal (e.g. School fees)")
GOAL_TARGET_ASK = N_("Your target, in KES?")
GOAL_LOCK_ASK = N_("Lock the money for a while? While it is locked you cannot withdraw it.")
LOCK_LABELS = ((0, N_("No lock")), (3, N_("3 months")), (6, N_("6 months")),
               (12, N_("12 months")))
GOAL_OPENED = N_("Goal {goal} is open. Target: {target}. Deposit into it from Akiba "
                 "savings.")
GOAL_LOCKED_UNTIL = N_("Locked until {date}.")
NAME_RULE = N_("Enter a name of 2 to 20 letters.")
NO_CHAMA = N_("You are not in a chama yet. Ask your field partner to start one.")
CHAMA_TEXT = N_("{chama}: round {round}, pot {pot}.\nNext payout: {name} on {date}.\n"
                "You paid {amount} of {due} this round.")
CONTRIBUTE = N_("Pay my contribution")
STATEMENT_BY_SMS = N_("Statement by SMS")
CONTRIBUTE_CONFIRM = N_("Pay {amount} to {chama} from your M-Pesa?")
CONTRIBUTE_SENT = N_("Check your phone: M-Pesa will ask you to pay {amount} to {chama}.")
STATEMENT_SENT = N_("Your chama statement is on its way by SMS.")
REFUSALS = {
    "insufficient_funds": N_("The account does not hold that much."),
    "daily_limit": N_("That is above what you may withdraw today."),
    "invalid_amount": N_("Enter whole shillings within the limits."),
    "locked": N_("This goal is locked until its date. You cannot withdraw yet."),
    "too_many_goals": N_("You have the most goals allowed. Reach one first."),
    "invalid_name": NAME_RULE,
    "not_a_member": NO_CHAMA,
    "service_unavailable": REASONS["service_unavailable"],
}
ACCOUNT_NAME_MAX = 20


def port(ctx: Ctx) -> SavingsServices:
    return savings_services_for(ctx.services)


def refused(ctx: Ctx, exc: SavingsRefused) -> Finish:
    return Finish(ctx.t(REFUSALS.get(exc.reason_code, REFUSALS["service_unavailable"])))


def account_name(ctx: Ctx, account: AccountLine) -> str:
    return truncate_septets(account.name, ACCOUNT_NAME_MAX)


# --- balances --------------------------------------------------------------------------------


def balance_text(ctx: Ctx) -> str:
    """Every account with its balance (goals with their target and lock), and the rate."""
    view = port(ctx).savings(ctx.member_id)
    lines = []
    for account in view.accounts:
        params: dict[str, Any] = {"goal": account_name(ctx, account),
                                  "amount": ctx.money(account.balance)}
        if account.target:
            line = ctx.t(GOAL_LINE, target=ctx.money(account.target), **params)
        else:
            line = f"{params['goal']}: {params['amount']}"
        if account.locked and account.lock_until is not None:
            line += " " + ctx.t(LOCKED_LINE, date=ctx.day(account.lock_until))
        lines.append(line)
    lines.append(ctx.t(RATE_LINE, rate=view.rate_percent))
    return "\n".join(lines)


# --- deposits --------------------------------------------------------------------------------


def account_options(ctx: Ctx) -> list[tuple[Any, str]]:
    return [(account.id, account_name(ctx, account))
            for account in port(ctx).savings(ctx.member_id).accounts]


def chosen(ctx: Ctx) -> AccountLine:
    for account in port(ctx).savings(ctx.member_id).accounts:
        if account.id == int(ctx.data["account"]):
            return account
    raise SavingsRefused("service_unavailable")


def deposit_amount(ctx: Ctx, answer: str) -> int:
    view = port(ctx).savings(ctx.member_id)
    return shillings(view.min_transfer, view.max_deposit)(ctx, answer)


def deposit(ctx: Ctx) -> Finish:
    amount = int(ctx.data["amount"])
    try:
        port(ctx).deposit(ctx.member_id, int(ctx.data["account"]), amount,
                          f"ussd:{ctx.state.flow}:save")
    except SavingsRefused as exc:
        return refused(ctx, exc)
    return Finish(ctx.t(DEPOSIT_SENT, amount=ctx.money(amount)))


# --- withdrawals -----------------------------------------------------------------------------


def withdrawable(ctx: Ctx) -> tuple[int, int]:
    view = port(ctx).savings(ctx.member_id)
    account = chosen(ctx)
    return view.min_transfer, min(account.balance, view.withdraw_left) // 100 * 100


def start_withdrawal(ctx: Ctx) -> Goto | Finish:
    """Refuse a locked goal or an empty account before asking for an amount."""
    account = chosen(ctx)
    if account.locked:
        return refused(ctx, SavingsRefused("locked"))
    low, high = withdrawable(ctx)
    if high < low:
        return Finish(ctx.t(NOTHING_TO_WITHDRAW))
    ctx.data["max_out"] = high
    return Goto("save.withdraw.amount")


def withdraw_amount(ctx: Ctx, answer: str) -> int:
    low, high = withdrawable(ctx)
    return shillings(low, high)(ctx, answer)


def withdraw(ctx: Ctx) -> Finish:
    amount = int(ctx.data["out"])
    try:
        sent = port(ctx).withdraw(ctx.member_id, int(ctx.data["account"]), amount,
                                  f"ussd:{ctx.state.flow}:save-out")
    except SavingsRefused as exc:
        return refused(ctx, exc)
    return Finish(ctx.t(WITHDRAW_SENT if sent else WITHDRAW_HELD, amount=ctx.money(amount)))


# --- goals -----------------------------------------------------------------------------------


def goal_name(_ctx: Ctx, answer: str) -> str:
    text = " ".join(to_gsm7(answer).split())
    if not 2 <= len(text) <= ACCOUNT_NAME_MAX:
        raise Invalid(NAME_RULE)
    return text


def lock_choices() -> tuple[Choice, ...]:
    return tuple(Choice(label, "save.goal.open", sets=(("lock_months", months),))
                 for months, label in LOCK_LABELS)


def open_goal(ctx: Ctx) -> Finish:
    months = int(ctx.data.get("lock_months", 0))
    lock = add_months(today(), months) if months else None
    try:
        goal = port(ctx).open_goal(ctx.member_id, str(ctx.data["goal"]), int(ctx.data["target"]),
                                   lock)
    except SavingsRefused as exc:
        return refused(ctx, exc)
    opened = ctx.t(GOAL_OPENED, goal=account_name(ctx, goal), target=ctx.money(goal.target or 0))
    if lock is not None:  # she chose a number of months: tell her the day it ends
        opened += " " + ctx.t(GOAL_LOCKED_UNTIL, date=ctx.day(lock))
    return Finish(opened)


# --- the chama -------------------------------------------------------------------------------


def chama_route(ctx: Ctx) -> Goto | Finish:
    chama = port(ctx).chama(ctx.member_id)
    if chama is None:
        return Finish(ctx.t(NO_CHAMA))
    ctx.data["chama"] = chama.id
    ctx.data["chama_name"] = truncate_septets(chama.name, ACCOUNT_NAME_MAX)
    ctx.data["contribution"] = chama.contribution
    return Goto("save.chama.menu")


def chama_text(ctx: Ctx) -> str:
    chama = port(ctx).chama(ctx.member_id)
    if chama is None:
        return ctx.t(NO_CHAMA)
    names = truncate_septets(", ".join(chama.next_names) or "-", ACCOUNT_NAME_MAX)
    return ctx.t(CHAMA_TEXT, chama=ctx.data["chama_name"], round=chama.round,
                 pot=ctx.money(chama.pot), name=names, date=ctx.day(chama.round_ends),
                 amount=ctx.money(chama.paid_this_round), due=ctx.money(chama.contribution))


def contribute(ctx: Ctx) -> Finish:
    try:
        port(ctx).contribute(ctx.member_id, int(ctx.data["chama"]),
                             f"ussd:{ctx.state.flow}:chama")
    except SavingsRefused as exc:
        return refused(ctx, exc)
    return Finish(ctx.t(CONTRIBUTE_SENT, amount=ctx.money(int(ctx.data["contribution"])),
                        chama=ctx.data["chama_name"]))


def send_statement(ctx: Ctx) -> Finish:
    try:
        port(ctx).send_chama_statement(ctx.member_id, int(ctx.data["chama"]),
                                       f"ussd:{ctx.state.flow}:chama-statement")
    except SavingsRefused as exc:
        return refused(ctx, exc)
    return Finish(ctx.t(STATEMENT_SENT))


def _amount_of(field: str) -> Callable[[Ctx], dict[str, object]]:
    return lambda ctx: {"amount": ctx.money(int(ctx.data[field]))}


def _amount_and_account(field: str) -> Callable[[Ctx], dict[str, object]]:
    return lambda ctx: {"amount": ctx.money(int(ctx.data[field])),
                        "goal": account_name(ctx, chosen(ctx))}


def _contribution(ctx: Ctx) -> dict[str, object]:
    return {"amount": ctx.money(int(ctx.data["contribution"])), "chama": ctx.data["chama_name"]}


NODES = (
    Menu("save", SAVINGS_MENU, private=True, choices=(
        Choice(N_("My savings"), "save.balance"),
        Choice(N_("Deposit from M-Pesa"), "save.deposit"),
        Choice(N_("Withdraw to M-Pesa"), "save.withdraw"),
        Choice(N_("New savings goal"), "save.goal.name"),
        Choice(N_("My chama"), "save.chama"),
    )),
    Menu("save.balance", balance_text, private=True),
    Pick("save.deposit", WHICH_DEPOSIT, "account", account_options, "save.deposit.amount",
         private=True),
    Ask("save.deposit.amount", DEPOSIT_ASK, "amount", deposit_amount, "save.deposit.confirm",
        private=True),
    Menu("save.deposit.confirm", DEPOSIT_CONFIRM,
         params=_amount_and_account("amount"),
         private=True, choices=(Choice(N_("Confirm"), "save.deposit.do"),
                                Choice(N_("Cancel"), "save"))),
    Do("save.deposit.do", deposit, private=True),
    Pick("save.withdraw", WHICH_WITHDRAW, "account", account_options, "save.withdraw.check",
         private=True),
    Do("save.withdraw.check", start_withdrawal, private=True),
    Ask("save.withdraw.amount", WITHDRAW_ASK, "out", withdraw_amount, "save.withdraw.confirm",
        params=_amount_of("max_out"), private=True),
    Menu("save.withdraw.confirm", WITHDRAW_CONFIRM,
         params=_amount_and_account("out"),
         private=True, choices=(Choice(N_("Confirm"), "save.withdraw.sign"),
                                Choice(N_("Cancel"), "save"))),
    Pin("save.withdraw.sign", goto="save.withdraw.do", always=True, private=True),
    Do("save.withdraw.do", withdraw, private=True),
    Ask("save.goal.name", GOAL_NAME_ASK, "goal", goal_name, "save.goal.target", private=True,
        free_text=True),
    Ask("save.goal.target", GOAL_TARGET_ASK, "target", shillings(1_000, 100_000_000),
        "save.goal.lock", private=True),
    Menu("save.goal.lock", GOAL_LOCK_ASK, lock_choices(), private=True),
    Do("save.goal.open", open_goal, private=True),
    Do("save.chama", chama_route, private=True),
    Menu("save.chama.menu", chama_text, private=True, choices=(
        Choice(CONTRIBUTE, "save.chama.confirm"), Choice(STATEMENT_BY_SMS, "save.chama.sms"))),
    Menu("save.chama.confirm", CONTRIBUTE_CONFIRM,
         params=_contribution, private=True,
         choices=(Choice(N_("Confirm"), "save.chama.pay"), Choice(N_("Cancel"), "save"))),
    Do("save.chama.pay", contribute, private=True),
    Do("save.chama.sms", send_statement, private=True),
)
