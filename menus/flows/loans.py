"""The money flows: balance, apply (with disclosure), repay, mini statement."""

from __future__ import annotations

from typing import Any

from core.money import format_money
from menus import validators as v
from menus.nodes import Ask, Choice, Ctx, Do, End, Finish, Menu, Pick, Pin
from menus.ports import PURPOSES, ServiceRefused
from menus.texts import N_

LOAN_STATUS = {
    "pending": N_("under review"),
    "approved": N_("approved, awaiting funds"),
    "active": N_("active"),
    "in_arrears": N_("overdue"),
    "repaid": N_("repaid"),
}
EVERY = {"weekly": N_("weekly"), "fortnightly": N_("every 2 weeks"), "monthly": N_("monthly")}
PAYMENTS = {
    "weekly": N_("{n} weekly payments"),
    "fortnightly": N_("{n} payments, every 2 weeks"),
    "monthly": N_("{n} monthly payments"),
}
STATEMENT_KINDS = {
    "disbursement": N_("Loan paid out"),
    "repayment": N_("Payment"),
    "fee": N_("Fee"),
    "refund": N_("Refund"),
    "adjustment": N_("Correction"),
    "funding": N_("Loan funded"),
    "write_off": N_("Written off"),
    "recovery": N_("Recovered"),
    "savings_deposit": N_("Savings deposit"),
    "chama_contribution": N_("Chama contribution"),
    "savings_interest": N_("Savings interest"),
    "savings_withdrawal_hold": N_("Savings withdrawal"),
    "savings_withdrawal": N_("Sent to M-Pesa"),
    "savings_withdrawal_release": N_("Withdrawal returned"),
    "chama_payout_hold": N_("Chama payout"),
    "chama_payout": N_("Sent to M-Pesa"),
    "chama_payout_release": N_("Payout returned"),
    "insurance_premium": N_("Insurance premium"),
    "insurance_claim_hold": N_("Insurance claim"),
    "insurance_claim_paid": N_("Sent to M-Pesa"),
    "insurance_claim_release": N_("Claim payout returned"),
    "wallet_deposit": N_("Wallet deposit"),
    "withdrawal_hold": N_("Wallet withdrawal"),
    "wallet_withdrawal": N_("Sent to M-Pesa"),
    "withdrawal_release": N_("Withdrawal returned"),
}
PURPOSE_LABELS = {
    "business": N_("Business"),
    "school_fees": N_("School fees"),
    "farming": N_("Farming"),
    "medical": N_("Medical"),
    "household": N_("Household"),
    "other": N_("Other"),
}
AMOUNT_PROMPT = N_("Enter amount from {low} to {high}")
NO_LOAN = N_("You have no loan.")
LOAN_LINE = N_("Loan {ref}: {status}")
OUTSTANDING = N_("Outstanding: {amount}")
NEXT_PAYMENT = N_("Next payment: {amount} on {date}")
OVERDUE = N_("Overdue since {date}: {amount}")
CREDIT_LIMIT = N_("Credit limit: {amount}")
REPAY_TITLE = N_("Repay loan")
DISCLOSURE = N_("Borrow {amount}. Pay {installment} x {n}, {every}.\nTotal to repay: {total}\n"
                "Cost of credit: {cost}\nAPR: {apr}%")
FEE_LINE = N_("Fee {fee} is deducted: you receive {net}.")
COVER_LINE = N_("Life cover {premium} is deducted: you receive {net}.")
FEE_AND_COVER_LINE = N_("Fee {fee} and life cover {premium} are deducted: you receive {net}.")
APPLIED = N_("Application received. Loan reference {ref}. We will send you an "
             "SMS when it is approved.")
CONFIRM_PAYMENT = N_("Pay {amount} to loan {ref} from your M-Pesa?")
PROMPT_SENT = N_("You will receive an M-Pesa prompt to pay {amount}. Enter your "
                 "M-Pesa PIN to complete.")
NO_TRANSACTIONS = N_("No transactions yet.")
STATEMENT_TITLE = N_("Mini statement")


def balance_screen(ctx: Ctx) -> str:
    """Loan status, outstanding, next due date and amount, credit limit."""
    b = ctx.services.balance(ctx.member_id)
    lines = []
    if b.loan_reference is None:
        lines.append(ctx.t(NO_LOAN))
    else:
        status = ctx.t(LOAN_STATUS.get(b.loan_status or "", LOAN_STATUS["active"]))
        lines.append(ctx.t(LOAN_LINE, ref=b.loan_reference, status=status))
        lines.append(ctx.t(OUTSTANDING, amount=ctx.money(b.outstanding, b.currency)))
        if b.next_due_date is not None:
            # Late, the amount is every missed installment: a past "next payment" date reads
            # as a mistake, so name it for what it is.
            line = OVERDUE if b.loan_status == "in_arrears" else NEXT_PAYMENT
            lines.append(ctx.t(line, amount=ctx.money(b.next_due_amount, b.currency),
                               date=ctx.day(b.next_due_date)))
    lines.append(ctx.t(CREDIT_LIMIT, amount=ctx.money(b.credit_limit, b.currency)))
    return "\n".join(lines)


def product_options(ctx: Ctx) -> list[tuple[Any, str]]:
    """The products this member may apply for, each with its amount range."""
    products = ctx.services.products(ctx.member_id)
    if not products:
        raise ServiceRefused("product_unavailable")
    return [({"code": p.code, "low": p.min_amount, "high": p.max_amount, "terms": list(p.terms),
              "frequency": p.frequency},
             f"{p.name} {ctx.money(p.min_amount, p.currency)}-"
             f"{format_money(p.max_amount, p.currency, with_currency=False)}")
            for p in products]


def product_bounds(ctx: Ctx) -> tuple[int, int]:
    product = ctx.data["product"]
    return int(product["low"]), int(product["high"])


def _range(ctx: Ctx, bounds: tuple[int, int]) -> dict[str, object]:
    return {"low": ctx.money(bounds[0]), "high": ctx.money(bounds[1])}


def term_options(ctx: Ctx) -> list[tuple[Any, str]]:
    product = ctx.data["product"]
    label = PAYMENTS.get(product["frequency"], PAYMENTS["monthly"])
    return [(int(n), ctx.t(label, n=n)) for n in product["terms"]]


def disclosure(ctx: Ctx) -> str:
    """The cost of credit before acceptance: installment, total, cost, APR (and any fee)."""
    product = ctx.data["product"]
    q = ctx.services.quote(ctx.member_id, product["code"], ctx.data["amount"], ctx.data["term"])
    text = ctx.t(
        DISCLOSURE,
        amount=ctx.money(q.amount, q.currency), installment=ctx.money(q.installment, q.currency),
        n=q.term, every=ctx.t(EVERY.get(q.frequency, EVERY["monthly"])),
        total=ctx.money(q.total_repayable, q.currency),
        cost=ctx.money(q.cost_of_credit, q.currency), apr=q.apr,
    )
    deductions = {"fee": ctx.money(q.upfront_fee, q.currency),
                  "premium": ctx.money(q.credit_life_premium, q.currency),
                  "net": ctx.money(q.amount - q.upfront_fee - q.credit_life_premium, q.currency)}
    if q.upfront_fee and q.credit_life_premium:
        text += "\n" + ctx.t(FEE_AND_COVER_LINE, **deductions)
    elif q.credit_life_premium:
        text += "\n" + ctx.t(COVER_LINE, **deductions)
    elif q.upfront_fee:
        text += "\n" + ctx.t(FEE_LINE, **deductions)
    return text


def submit_application(ctx: Ctx) -> Finish:
    """Apply once per flow instance, whatever the network does."""
    reference = ctx.services.apply(
        ctx.member_id, ctx.data["product"]["code"], ctx.data["amount"], ctx.data["term"],
        ctx.data["purpose"], f"ussd-{ctx.state.flow}-apply",
    )
    return Finish(ctx.t(APPLIED, ref=reference))


def repay_menu(ctx: Ctx) -> str:
    """Say at once when there is nothing to repay, not after she has picked an amount."""
    ctx.services.repayment_options(ctx.member_id)  # refuses with no_active_loan
    return ctx.t(REPAY_TITLE)


def repay_bounds(ctx: Ctx) -> tuple[int, int]:
    options = ctx.services.repayment_options(ctx.member_id)
    return min(100, options.full_balance), options.full_balance


def repay_confirmation(ctx: Ctx) -> str:
    """Resolve the chosen amount now, so the request pays exactly what was shown."""
    options = ctx.services.repayment_options(ctx.member_id)
    choice = ctx.data.get("pay")
    if choice == "next":
        amount = options.next_installment
    elif choice == "full":
        amount = options.full_balance
    else:
        amount = int(ctx.data["amount"])
    if amount <= 0:
        raise ServiceRefused("no_active_loan")
    ctx.data["pay_amount"] = amount
    return ctx.t(CONFIRM_PAYMENT,
                 amount=ctx.money(amount, options.currency), ref=options.loan_reference)


def submit_repayment(ctx: Ctx) -> Finish:
    """Ask the domain for an M-Pesa prompt; it goes out through the outbox, once per flow."""
    amount = int(ctx.data["pay_amount"])
    ctx.services.request_repayment(ctx.member_id, amount, f"ussd-{ctx.state.flow}-repay")
    return Finish(ctx.t(PROMPT_SENT, amount=ctx.money(amount)))


def statement_screen(ctx: Ctx) -> str:
    """The last five transactions, newest first."""
    lines = ctx.services.statement(ctx.member_id, 5)
    if not lines:
        return ctx.t(NO_TRANSACTIONS)
    rows = [ctx.t(STATEMENT_TITLE)]
    for line in lines:
        kind = ctx.t(STATEMENT_KINDS.get(line.kind, STATEMENT_KINDS["adjustment"]))
        rows.append(f"{line.on:%d/%m} {kind} {ctx.money(line.amount, line.currency)}"
                    f"{' ' + line.reference if line.reference else ''}")
    return "\n".join(rows)


NODES = (
    Menu("balance", balance_screen, private=True),
    Pick("apply.product", N_("Choose a loan"), "product", product_options, "apply.amount"),
    Ask("apply.amount", AMOUNT_PROMPT, "amount", v.amount_between(product_bounds), "apply.term",
        params=lambda ctx: _range(ctx, product_bounds(ctx))),
    Pick("apply.term", N_("How many payments?"), "term", term_options, "apply.purpose"),
    Menu("apply.purpose", N_("What is the loan for?"), tuple(
        Choice(PURPOSE_LABELS[p], "apply.quote", sets=(("purpose", p),)) for p in PURPOSES)),
    Menu("apply.quote", disclosure, (
        Choice(N_("Accept"), "apply.pin"),
        Choice(N_("Decline"), "apply.declined"),
    )),
    Pin("apply.pin", "apply.submit", always=True),
    Do("apply.submit", submit_application),
    End("apply.declined", N_("You declined. No loan was requested.")),
    Menu("repay.choose", repay_menu, (
        Choice(N_("Next installment"), "repay.confirm", sets=(("pay", "next"),)),
        Choice(N_("Full balance"), "repay.confirm", sets=(("pay", "full"),)),
        Choice(N_("Other amount"), "repay.amount", sets=(("pay", "other"),)),
    )),
    Ask("repay.amount", AMOUNT_PROMPT, "amount", v.amount_between(repay_bounds), "repay.confirm",
        params=lambda ctx: _range(ctx, repay_bounds(ctx)), private=True),
    Menu("repay.confirm", repay_confirmation, (
        Choice(N_("Confirm"), "repay.submit"),
        Choice(N_("Cancel"), "repay.cancelled"),
    ), private=True),
    Do("repay.submit", submit_repayment, private=True),
    End("repay.cancelled", N_("Payment cancelled. Nothing was charged.")),
    Menu("statement", statement_screen, private=True),
)
