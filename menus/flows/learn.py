"""Learn: four short lessons, each with a one-question check; the interest lesson uses her
own numbers (her loan, or a quote of her product).

Which option of each check is right is the domain's (`education.lessons.LESSONS`);
the words are here, in both catalogs.
"""

from __future__ import annotations

from menus.beyond_ports import BeyondServices, beyond_services_for
from menus.nodes import Choice, Ctx, Do, Goto, Menu
from menus.ports import ServiceRefused
from menus.texts import N_

LEARN_TITLE = N_("Learn: short lessons. Lessons done: {n} of 4.")
LESSON_TITLES = {
    "apr": N_("Interest and APR"),
    "budget": N_("Budgeting"),
    "saving": N_("Saving"),
    "borrowing": N_("Not over-borrowing"),
}
APR_LOAN = N_("Your loan: you get {net} and repay {total}. The difference, {cost}, is the "
              "cost of credit. APR {apr}% is that cost per year: compare loans by it.")
APR_QUOTE = N_("Example for you: borrow {amount}, get {net}, repay {total}. Cost of credit "
               "{cost}. APR {apr}% is that cost per year: compare loans by it.")
APR_GENERAL = N_("Interest is the price of a loan. Cost of credit = all you repay minus what "
                 "you get. APR is that cost per year: compare loans by it.")
LESSON_TEXTS = {
    "budget": N_("Each week write what comes in and what goes out. Pay needs first: food, "
                 "rent, your installment. Then wants. Keep business and home money apart."),
    "saving": N_("Save a little each time you earn, even KES 20, before you spend. Savings "
                 "carry you through a bad week without a new loan."),
    "borrowing": N_("Borrow only what your business can repay from its profit. Keep all "
                    "installments under a third of your income. Never borrow to repay a loan."),
}
CHECK = N_("Question")
QUESTIONS = {
    "apr": (N_("Two loans of the same amount. Which costs less?"),
            (N_("The longer one"), N_("The one with the lower APR"), N_("The weekly one"))),
    "budget": (N_("What should you pay first?"),
               (N_("Needs: food, your installment"), N_("New clothes"), N_("A party"))),
    "saving": (N_("When is the best time to save?"),
               (N_("At the end of the month"), N_("When something is left"),
                N_("As soon as you earn"))),
    "borrowing": (N_("Your installment is due and you are short. Best step?"),
                  (N_("Take another loan"), N_("Call us early to talk"), N_("Ignore it"))),
}
CORRECT = N_("Correct! This lesson is complete. Lessons done: {n} of 4.")
WRONG = {
    "apr": N_("Not quite. The lower APR means a lower cost per year."),
    "budget": N_("Not quite. Needs such as food and your installment come first."),
    "saving": N_("Not quite. Save as soon as you earn, before you spend."),
    "borrowing": N_("Not quite. Call us early: we can help you plan."),
}
TRY_AGAIN = N_("Try again")
OTHER_LESSONS = N_("Other lessons")


def _member_port(ctx: Ctx) -> BeyondServices:
    services = beyond_services_for(ctx.services)
    if services is None:
        raise ServiceRefused("service_unavailable")
    return services


def learn_title(ctx: Ctx) -> str:
    return ctx.t(LEARN_TITLE, n=_member_port(ctx).lessons_done(ctx.member_id))


def apr_text(ctx: Ctx) -> str:
    """The interest lesson, told with her own figures when she has a loan or a product."""
    numbers = _member_port(ctx).lesson_numbers(ctx.member_id)
    if numbers is None:
        return ctx.t(APR_GENERAL)
    template = APR_LOAN if numbers.source == "loan" else APR_QUOTE
    return ctx.t(template, amount=ctx.money(numbers.amount, numbers.currency),
                 net=ctx.money(numbers.received, numbers.currency),
                 total=ctx.money(numbers.total_repayable, numbers.currency),
                 cost=ctx.money(numbers.cost, numbers.currency), apr=numbers.apr)


def answer(ctx: Ctx) -> Goto:
    """Check her answer; either way she stays in Learn (no session ends on a lesson)."""
    lesson, choice = str(ctx.data["lesson"]), int(ctx.data["answer"])
    services = _member_port(ctx)
    if not services.check_lesson(ctx.member_id, lesson, choice):
        return Goto("learn.wrong")
    ctx.data["done"] = services.lessons_done(ctx.member_id)
    return Goto("learn.right")


def wrong_text(ctx: Ctx) -> str:
    return ctx.t(WRONG[str(ctx.data["lesson"])])


def right_text(ctx: Ctx) -> str:
    return ctx.t(CORRECT, n=ctx.data.get("done", 0))


def retry(ctx: Ctx) -> Goto:
    return Goto(f"learn.{ctx.data['lesson']}.check")


def _lesson_nodes(code: str) -> tuple[Menu, Menu]:
    question, options = QUESTIONS[code]
    body = apr_text if code == "apr" else LESSON_TEXTS[code]
    return (
        # No Back/Home line, so that the lesson and its one choice fit a single screen
        # (0 and 00 still work); her loan's figures are for her eyes only (PIN).
        Menu(f"learn.{code}", body, (Choice(CHECK, f"learn.{code}.check"),),
             private=code == "apr", nav=False),
        Menu(f"learn.{code}.check", question, tuple(
            Choice(label, "learn.answer", sets=(("lesson", code), ("answer", n)))
            for n, label in enumerate(options, 1))),
    )


NODES = (
    Menu("learn", learn_title, tuple(Choice(title, f"learn.{code}")
                                     for code, title in LESSON_TITLES.items())),
    *(node for code in LESSON_TITLES for node in _lesson_nodes(code)),
    Do("learn.answer", answer),
    Menu("learn.wrong", wrong_text, (Choice(TRY_AGAIN, "learn.retry"),
                                     Choice(OTHER_LESSONS, "learn"))),
    Menu("learn.right", right_text, (Choice(OTHER_LESSONS, "learn"),)),
    Do("learn.retry", retry),
)
