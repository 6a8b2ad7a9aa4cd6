"""The lender menu: sign-up, wallet, top-up, browsing and funding loans, portfolio, withdrawal.

Money actions ask for the PIN again as a signature, and their idempotency keys
derive from the flow instance, so a repeated request never lends or pays twice.
"""

from __future__ import annotations

from collections.abc import Callable

from core.gsm7 import truncate_septets
from core.money import MoneyError, format_money, parse_amount
from menus.lender_ports import LenderRefused, LenderServices, LoanLine, lender_services_for
from menus.nodes import Ask, Choice, Ctx, Do, Finish, Goto, Invalid, Menu, Pick, Pin
from menus.texts import N_, REASONS
from menus.validators import AMOUNT_RANGE, AMOUNT_RULE

PAGE_SIZE = 3  # three one-line loans, "more" and navigation fit one 182-character screen
LINE_MAX = 42  # septets of one loan line, its number included

JOIN_TEXT = N_("Lend from your Mkopo wallet to people growing a small business, in small "
               "shares. Repayments come back to your wallet.")
JOINED = N_("You are now a lender. Choose Lend again to top up your wallet and start.")
LENDER_MENU = N_("Lender menu")
WALLET = N_("Wallet: {amount}\nLent out: {total}\nYou can withdraw {high} more today.")
DEPOSIT_ASK = N_("Top up how much from M-Pesa, in KES?")
DEPOSIT_CONFIRM = N_("Top up {amount} from M-Pesa?")
DEPOSIT_SENT = N_("Check your phone: M-Pesa will ask you to pay {amount} into your wallet.")
BROWSE_TITLE = N_("Loans raising money (KES):")
MORE_LOANS = N_("More loans")
NO_LOANS = N_("No loans are raising money now. Please check again later.")
LOAN_FACTS = N_("{amount} loan, {n}% funded, {total} still needed.")
LEND = N_("Lend")
BACK_TO_LIST = N_("Back to the list")
SHARES_ASK = N_("How many shares of {low}? From 1 to {n}.")
SHARES_RANGE = N_("Enter a number from 1 to {n}.")
NOT_ENOUGH = N_("Your wallet has {amount}. Top up or choose fewer shares.")
LEND_CONFIRM = N_("Lend {amount} ({n} shares) to {name}?")
LEND_CONFIRM_ONE = N_("Lend {amount} (1 share) to {name}?")
LENT = N_("Thank you! You lent {amount} to {name}. Wallet now: {total}.")
PORTFOLIO_LINES = (
    ("active", N_("Active loans: {n}")), ("in_arrears", N_("In arrears: {n}")),
    ("repaid", N_("Repaid: {n}")), ("lost", N_("Lost: {n}")), ("raising", N_("Raising: {n}")),
)
LENT_TOTAL = N_("Lent: {amount}")
OUTSTANDING = N_("Still out: {amount}")
RECEIVED = N_("Repayments received: {amount}")
WITHDRAW_ASK = N_("Withdraw how much to M-Pesa, in KES? Up to {amount}.")
WITHDRAW_CONFIRM = N_("Withdraw {amount} to your M-Pesa?")
WITHDRAW_SENT = N_("{amount} is on its way to your M-Pesa.")
NOTHING_TO_WITHDRAW = N_("There is nothing you can withdraw now.")
REPAYMENT_SMS_LABELS = {
    "digest": N_("One SMS a day"),
    "each": N_("An SMS for each repayment"),
}
REPAYMENT_SMS_NOW = N_("Repayment SMS now: {current}")
REPAYMENT_SMS_SAVED = N_("Your choice is saved.")
TERMS = {"weekly": N_("{n}wk"), "fortnightly": N_("{n}x2wk"), "monthly": N_("{n}mo")}
REFUSALS = {
    "insufficient_funds": N_("Your wallet does not hold enough. Please top up first."),
    "loan_closed": N_("Sorry, this loan no longer needs that many shares."),
    "daily_limit": N_("That is above what you may withdraw today."),
    "invalid_amount": N_("Enter whole shillings within the limits."),
    "not_a_lender": N_("Please join as a lender first."),
    "service_unavailable": REASONS["service_unavailable"],
}


def port(ctx: Ctx) -> LenderServices:
    return lender_services_for(ctx.services)


def refused(ctx: Ctx, exc: LenderRefused) -> Finish:
    return Finish(ctx.t(REFUSALS.get(exc.reason_code, REFUSALS["service_unavailable"])))


# --- entry and sign-up ---------------------------------------------------------------


def route(ctx: Ctx) -> Goto:
    """Lenders go to their menu, everyone else to the offer to join."""
    return Goto("lend.menu" if port(ctx).is_lender(ctx.member_id) else "lend.join")


def join(ctx: Ctx) -> Finish:
    """Make the member a lender (after the PIN gate)."""
    try:
        port(ctx).become_lender(ctx.member_id)
    except LenderRefused as exc:
        return refused(ctx, exc)
    return Finish(ctx.t(JOINED))


# --- wallet and top-up -----------------------------------------------------------------


def wallet_text(ctx: Ctx) -> str:
    wallet = port(ctx).wallet(ctx.member_id)
    return ctx.t(WALLET, amount=ctx.money(wallet.balance), total=ctx.money(wallet.lent_out),
                 high=ctx.money(wallet.withdraw_left))


def shillings(low: int, high: int) -> Callable[[Ctx, str], int]:
    """Whole shillings between bounds (M-Pesa moves no cents)."""

    def parse(ctx: Ctx, answer: str) -> int:
        try:
            minor = parse_amount(answer, ctx.currency)
        except MoneyError as exc:
            raise Invalid(AMOUNT_RULE) from exc
        if minor % 100:
            raise Invalid(AMOUNT_RULE)
        if not low <= minor <= high:
            raise Invalid(AMOUNT_RANGE, low=ctx.money(low), high=ctx.money(high))
        return minor

    return parse


def deposit(ctx: Ctx) -> Finish:
    amount = int(ctx.data["amount"])
    try:
        port(ctx).deposit(ctx.member_id, ctx.state.phone, amount, f"ussd:{ctx.state.flow}:dep")
    except LenderRefused as exc:
        return refused(ctx, exc)
    return Finish(ctx.t(DEPOSIT_SENT, amount=ctx.money(amount)))


# --- browsing and lending --------------------------------------------------------------


def term_text(ctx: Ctx, loan: LoanLine) -> str:
    return ctx.t(TERMS.get(loan.frequency, TERMS["weekly"]), n=loan.term)


def loan_line(ctx: Ctx, loan: LoanLine) -> str:
    """One loan in one short line: name, sector, place, amount, % funded, term."""
    amount = format_money(loan.amount, loan.currency, with_currency=False)
    parts = [loan.first_name[:9], loan.sector[:9], loan.place[:9], amount,
             f"{loan.percent_funded}%", term_text(ctx, loan)]
    return " ".join(part for part in parts if part)


def loan_options(ctx: Ctx) -> list[tuple[object, str]]:
    """This page of loans, one line each, and "more" when there are more."""
    offset = int(ctx.data.get("offset", 0))
    page = port(ctx).browse(ctx.member_id, offset, PAGE_SIZE)
    if not page.loans and offset:
        ctx.data["offset"], offset = 0, 0  # past the end: start the list again
        page = port(ctx).browse(ctx.member_id, 0, PAGE_SIZE)
    if not page.loans:
        raise LenderRefused("loan_closed")
    options: list[tuple[object, str]] = [
        (loan.loan_id, truncate_septets(loan_line(ctx, loan), LINE_MAX - 3))
        for loan in page.loans]
    if offset + PAGE_SIZE < page.total:
        options.append(("more", ctx.t(MORE_LOANS)))
    return options


def browse_or_none(ctx: Ctx) -> Goto | Finish:
    """Show the list, or say there is nothing to fund."""
    try:
        port(ctx).browse(ctx.member_id, 0, 1).loans[0]
    except IndexError:
        return Finish(ctx.t(NO_LOANS))
    ctx.data["offset"] = 0
    return Goto("lend.list")


def picked(ctx: Ctx) -> Goto:
    """A loan was chosen, or the next page."""
    if ctx.data["loan"] == "more":
        ctx.data["offset"] = int(ctx.data.get("offset", 0)) + PAGE_SIZE
        return Goto("lend.list")
    return Goto("lend.loan")


def chosen(ctx: Ctx) -> LoanLine:
    return port(ctx).loan(int(ctx.data["loan"]))


def loan_text(ctx: Ctx) -> str:
    loan = chosen(ctx)
    facts = ctx.t(LOAN_FACTS, amount=ctx.money(loan.amount), n=loan.percent_funded,
                  total=ctx.money(loan.still_needed))
    return "\n".join([truncate_septets(loan.story, 90), facts])


def shares_prompt(ctx: Ctx) -> dict[str, object]:
    loan = chosen(ctx)
    return {"low": ctx.money(loan.share_unit), "n": loan.shares_left}


def parse_shares(ctx: Ctx, answer: str) -> int:
    """A share count the loan still needs and the wallet can pay."""
    loan = chosen(ctx)
    if not (answer.isascii() and answer.isdigit()) or not 1 <= int(answer) <= loan.shares_left:
        raise Invalid(SHARES_RANGE, n=loan.shares_left)
    shares = int(answer)
    balance = port(ctx).wallet(ctx.member_id).balance
    if min(shares * loan.share_unit, loan.still_needed) > balance:
        raise Invalid(NOT_ENOUGH, amount=ctx.money(balance))
    ctx.data["lend_amount"] = min(shares * loan.share_unit, loan.still_needed)
    ctx.data["name"] = loan.first_name
    return shares


def confirm_title(ctx: Ctx) -> str:
    one = int(ctx.data["shares"]) == 1
    return ctx.t(LEND_CONFIRM_ONE if one else LEND_CONFIRM, **confirm_params(ctx))


def confirm_params(ctx: Ctx) -> dict[str, object]:
    return {"amount": ctx.money(int(ctx.data["lend_amount"])), "n": ctx.data["shares"],
            "name": ctx.data["name"]}


def lend(ctx: Ctx) -> Finish:
    """Fund the shares once per flow instance, whatever the telco repeats."""
    loan_id, shares = int(ctx.data["loan"]), int(ctx.data["shares"])
    key = f"ussd:{ctx.state.flow}:fund:{loan_id}:{shares}"
    try:
        amount = port(ctx).fund(ctx.member_id, loan_id, shares, key)
    except LenderRefused as exc:
        return refused(ctx, exc)
    balance = port(ctx).wallet(ctx.member_id).balance
    return Finish(ctx.t(LENT, amount=ctx.money(amount), name=ctx.data["name"],
                        total=ctx.money(balance)))


# --- portfolio and withdrawal ----------------------------------------------------------


def portfolio_text(ctx: Ctx) -> str:
    book = port(ctx).portfolio(ctx.member_id)
    lines = [ctx.t(text, n=getattr(book, name)) for name, text in PORTFOLIO_LINES]
    lines += [ctx.t(LENT_TOTAL, amount=ctx.money(book.lent)),
              ctx.t(OUTSTANDING, amount=ctx.money(book.outstanding)),
              ctx.t(RECEIVED, amount=ctx.money(book.received))]
    return "\n".join(lines)


def withdrawable(ctx: Ctx) -> tuple[int, int]:
    wallet = port(ctx).wallet(ctx.member_id)
    return wallet.min_transfer, min(wallet.balance, wallet.withdraw_left) // 100 * 100


def start_withdrawal(ctx: Ctx) -> Goto | Finish:
    low, high = withdrawable(ctx)
    if high < low:
        return Finish(ctx.t(NOTHING_TO_WITHDRAW))
    ctx.data["max_out"] = high
    return Goto("lend.withdraw.amount")


def parse_withdrawal(ctx: Ctx, answer: str) -> int:
    low, high = withdrawable(ctx)
    return shillings(low, high)(ctx, answer)


def withdraw(ctx: Ctx) -> Finish:
    amount = int(ctx.data["out"])
    try:
        port(ctx).withdraw(ctx.member_id, ctx.state.phone, amount, f"ussd:{ctx.state.flow}:wd")
    except LenderRefused as exc:
        return refused(ctx, exc)
    return Finish(ctx.t(WITHDRAW_SENT, amount=ctx.money(amount)))


# --- how repayments are told ----------------------------------------------------------


def repayment_sms_title(ctx: Ctx) -> str:
    current = port(ctx).repayment_sms(ctx.member_id)
    return ctx.t(REPAYMENT_SMS_NOW, current=ctx.t(REPAYMENT_SMS_LABELS.get(
        current, REPAYMENT_SMS_LABELS["digest"])))


def save_repayment_sms(ctx: Ctx) -> Finish:
    try:
        port(ctx).set_repayment_sms(ctx.member_id, str(ctx.data["repayment_sms"]))
    except LenderRefused as exc:
        return refused(ctx, exc)
    return Finish(ctx.t(REPAYMENT_SMS_SAVED))


def _amount(field: str) -> Callable[[Ctx], dict[str, object]]:
    return lambda ctx: {"amount": ctx.money(int(ctx.data[field]))}


NODES = (
    Do("lend", route),
    Menu("lend.join", JOIN_TEXT, choices=(Choice(N_("Become a lender"), "lend.join.do"),)),
    Do("lend.join.do", join, private=True),
    Menu("lend.menu", LENDER_MENU, private=True, choices=(
        Choice(N_("Wallet balance"), "lend.wallet"),
        Choice(N_("Top up wallet"), "lend.deposit"),
        Choice(N_("Lend to a borrower"), "lend.browse"),
        Choice(N_("My portfolio"), "lend.portfolio"),
        Choice(N_("Withdraw to M-Pesa"), "lend.withdraw"),
        Choice(N_("Repayment SMS"), "lend.news"),
    )),
    Menu("lend.wallet", wallet_text, private=True),
    Ask("lend.deposit", DEPOSIT_ASK, "amount", shillings(100, 15_000_000),
        "lend.deposit.confirm", private=True),
    Menu("lend.deposit.confirm", DEPOSIT_CONFIRM, params=_amount("amount"),
         private=True, choices=(Choice(N_("Confirm"), "lend.deposit.do"),
                                Choice(N_("Cancel"), "lend.menu"))),
    Do("lend.deposit.do", deposit, private=True),
    Do("lend.browse", browse_or_none, private=True),
    Pick("lend.list", BROWSE_TITLE, "loan", loan_options, "lend.picked", private=True),
    Do("lend.picked", picked, private=True),
    Menu("lend.loan", loan_text, private=True, choices=(
        Choice(LEND, "lend.shares"), Choice(BACK_TO_LIST, "lend.list"))),
    Ask("lend.shares", SHARES_ASK, "shares", parse_shares, "lend.confirm",
        params=shares_prompt, private=True),
    Menu("lend.confirm", confirm_title, private=True, choices=(
        Choice(N_("Confirm"), "lend.sign"), Choice(N_("Cancel"), "lend.menu"))),
    Pin("lend.sign", goto="lend.fund", always=True, private=True),
    Do("lend.fund", lend, private=True),
    Menu("lend.portfolio", portfolio_text, private=True),
    Do("lend.withdraw", start_withdrawal, private=True),
    Ask("lend.withdraw.amount", WITHDRAW_ASK, "out", parse_withdrawal, "lend.withdraw.confirm",
        params=_amount("max_out"), private=True),
    Menu("lend.withdraw.confirm", WITHDRAW_CONFIRM, params=_amount("out"),
         private=True, choices=(Choice(N_("Confirm"), "lend.withdraw.sign"),
                                Choice(N_("Cancel"), "lend.menu"))),
    Pin("lend.withdraw.sign", goto="lend.withdraw.do", always=True, private=True),
    Do("lend.withdraw.do", withdraw, private=True),
    Menu("lend.news", repayment_sms_title, private=True, choices=tuple(
        Choice(label, "lend.news.save", sets=(("repayment_sms", choice),))
        for choice, label in REPAYMENT_SMS_LABELS.items())),
    Do("lend.news.save", save_repayment_sms, private=True),
)
