"""SMS templates: English source text, translated from `locales/<lang>.po`, sent as GSM-7.

Each template declares its params and their kinds, so `render` formats money,
dates and names the same way everywhere and cuts free text to a known length:
that is what lets the tests prove every message fits in one segment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from string import Formatter

from core.gsm7 import (
    EXTENSION,
    SMS_MULTI,
    SMS_SINGLE,
    septets,
    sms_segments,
    to_gsm7,
    truncate_septets,
)
from core.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator
from core.money import Money, format_money

NAME, REFERENCE, MONEY, DATE, COUNT, FREQUENCY, CODE = (
    "name", "reference", "money", "date", "count", "frequency", "code",
)
NAME_MAX = 20
"""Names longer than this are cut (at a word break when there is one)."""
REFERENCE_MAX = CODE_MAX = 14
"""Never cut (they are account numbers), but one segment is proven only up to this length."""

BORROWER, LENDER, ANYONE = "borrower", "lender", "anyone"

FREQUENCIES = {"weekly": "weekly", "fortnightly": "fortnightly", "monthly": "monthly"}
"""Schedule frequency codes and their English words (translated like templates)."""

translator = Translator(Path(__file__).resolve().parent / "locales")


class TemplateError(ValueError):
    """A template was asked for with the wrong name or params."""


@dataclass(frozen=True)
class Template:
    name: str
    source: str
    kinds: Mapping[str, str]
    audience: str = BORROWER

    @property
    def fields(self) -> set[str]:
        return {field for _, field, _, _ in Formatter().parse(self.source) if field}


_HOUSE = {"paybill": CODE, "support_phone": CODE, "ussd_code": CODE}
"""Params every template may use, filled from settings by `messaging.outbound`."""


def _t(name: str, source: str, audience: str = BORROWER, **kinds: str) -> Template:
    return Template(name, source, {**_HOUSE, **kinds}, audience)


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        _t("registration_received",
           "Hi {first_name}, welcome to Mkopo. We got your registration; a field partner "
           "will confirm it soon. Dial {ussd_code} any time.", first_name=NAME),
        _t("application_received",
           "Hi {first_name}, we got your loan application {reference} for {amount}. "
           "We will SMS you once it is reviewed.",
           first_name=NAME, reference=REFERENCE, amount=MONEY),
        _t("application_approved",
           "Hi {first_name}, loan {reference} for {amount} is approved. Lenders are funding "
           "it now; we will SMS you when the money is sent.",
           first_name=NAME, reference=REFERENCE, amount=MONEY),
        _t("application_rejected",
           "Hi {first_name}, sorry, we cannot approve loan {reference} this time. "
           "For details call {support_phone}.", first_name=NAME, reference=REFERENCE),
        _t("loan_funded",
           "Hi {first_name}, loan {reference} is fully funded. {amount} will be sent to "
           "your M-Pesa shortly.", first_name=NAME, reference=REFERENCE, amount=MONEY),
        _t("loan_disbursed",
           "{amount} sent to your M-Pesa. Repay {count} x {installment} {frequency} from "
           "{first_due}. Paybill {paybill}, account {reference}.",
           reference=REFERENCE, amount=MONEY, count=COUNT, installment=MONEY,
           frequency=FREQUENCY, first_due=DATE),
        _t("repayment_receipt",
           "Received {amount} for loan {reference}, thank you. Balance {balance}. "
           "Next: {next_amount} due {next_date}.",
           reference=REFERENCE, amount=MONEY, balance=MONEY, next_amount=MONEY,
           next_date=DATE),
        _t("payment_failed",
           "Your payment of {amount} for loan {reference} did not go through; no money was "
           "taken. Try again: Paybill {paybill}, account {reference}.",
           reference=REFERENCE, amount=MONEY),
        _t("overpayment",
           "Received {amount} for loan {reference}, thank you. {excess} more than was due is "
           "kept as credit for your next installment.",
           reference=REFERENCE, amount=MONEY, excess=MONEY),
        _t("loan_repaid",
           "Congratulations {first_name}! Loan {reference} is fully repaid. Thank you. "
           "Your new credit limit is {credit_limit}.",
           first_name=NAME, reference=REFERENCE, credit_limit=MONEY),
        _t("loan_settled_by_claim",
           "{first_name}, the life cover claim on loan {reference} is accepted: the insurance "
           "has paid the loan in full. Nothing more is owed. Help: {support_phone}.",
           first_name=NAME, reference=REFERENCE),
        _t("bima_premium_failed",
           "Your hospital cash payment of {amount} did not go through; no money was taken "
           "and the cover has not started. To try again dial {ussd_code}, More, Bima.",
           amount=MONEY),
        _t("reminder_upcoming",
           "Reminder: {amount} for loan {reference} is due on {due_date}. Pay via Paybill "
           "{paybill}, account {reference}. Thank you.",
           reference=REFERENCE, amount=MONEY, due_date=DATE),
        _t("reminder_due_today",
           "Reminder: {amount} for loan {reference} is due today. Pay via Paybill "
           "{paybill}, account {reference}. Thank you.", reference=REFERENCE, amount=MONEY),
        _t("reminder_late",
           "{amount} for loan {reference} was due on {due_date}. Please pay via Paybill "
           "{paybill}, account {reference}. Already paid? Thank you.",
           reference=REFERENCE, amount=MONEY, due_date=DATE),
        _t("reminder_late_help",
           "Loan {reference}: {amount} due on {due_date} is still unpaid. If things are "
           "difficult, call us on {support_phone} and we will find a way together.",
           reference=REFERENCE, amount=MONEY, due_date=DATE),
        _t("balance_reply",
           "{first_name}, loan {reference}: balance {balance}. Next {next_amount} due "
           "{next_date}. Paybill {paybill}, account {reference}.",
           first_name=NAME, reference=REFERENCE, balance=MONEY, next_amount=MONEY,
           next_date=DATE),
        _t("balance_no_loan",
           "{first_name}, you have no active loan. Your credit limit is {credit_limit}. "
           "Dial {ussd_code} to apply.", first_name=NAME, credit_limit=MONEY),
        _t("help_reply",
           "Mkopo: send BAL for your balance, REPAY 500 to pay 500, SAVE for savings, STOP "
           "to stop messages, START to resume. Dial {ussd_code}. Help: {support_phone}",
           audience=ANYONE),
        _t("unknown_command",
           "Sorry, we did not understand that. Send BAL, REPAY 500, STOP or HELP, "
           "or dial {ussd_code}.", audience=ANYONE),
        _t("unregistered_hint",
           "This number is not registered with Mkopo. Dial {ussd_code} to register, or "
           "visit a field partner near you.", audience=ANYONE),
        _t("stop_confirmation",
           "You will no longer get Mkopo reminders or updates. Send START to get them again. "
           "Legal notices about your loan will still be sent.", audience=ANYONE),
        _t("start_confirmation",
           "Welcome back. You will get Mkopo messages again. Send STOP at any time to stop "
           "them.", audience=ANYONE),
        _t("repay_requested",
           "An M-Pesa request for {amount} is on its way. Enter your M-Pesa PIN to pay. "
           "You will get a receipt by SMS.", amount=MONEY),
        _t("repay_usage",
           "To repay, send REPAY and the amount, e.g. REPAY 500. Or use Paybill {paybill} "
           "with your loan number as the account."),
        _t("repay_no_loan",
           "You have no loan to repay. Send BAL to check, or dial {ussd_code}."),
        _t("repay_refused",
           "We could not start that payment. Please try again later or call "
           "{support_phone}."),
        _t("savings_deposit_receipt",
           "Akiba: we received {amount} into {account}. Your balance there is now {balance}. "
           "Thank you for saving!", account=NAME, amount=MONEY, balance=MONEY),
        _t("savings_withdrawal_paid",
           "Akiba: {amount} from {account} was sent to your M-Pesa. Your balance there is "
           "now {balance}.", account=NAME, amount=MONEY, balance=MONEY),
        _t("savings_withdrawal_failed",
           "Akiba: we could not send {amount} to your M-Pesa. It is back in {account}; your "
           "balance there is {balance}.", account=NAME, amount=MONEY, balance=MONEY),
        _t("chama_payout_paid",
           "{chama}: your payout of {amount} for round {round} was sent to your M-Pesa.",
           chama=NAME, amount=MONEY, round=COUNT),
        _t("savings_balance_reply",
           "{first_name}, your Akiba savings: {total} in all, {goals} goals. Dial {ussd_code} "
           "to save, withdraw or see your chama.", first_name=NAME, total=MONEY, goals=COUNT),
        _t("chama_statement",
           "{chama}: round {round}, pot {pot}. Next payout: {recipient} on {date}. You paid "
           "{paid} this round, {total} in all.", chama=NAME, round=COUNT, pot=MONEY,
           recipient=NAME, date=DATE, paid=MONEY, total=MONEY),
        _t("chama_none",
           "{first_name}, you are not in a chama yet. Ask your field partner to start one.",
           first_name=NAME),
        _t("registration_verified",
           "Hi {first_name}, your Mkopo registration is confirmed. Dial {ussd_code} to "
           "apply for a loan.", first_name=NAME),
        _t("registration_rejected",
           "Hi {first_name}, sorry, we could not confirm your Mkopo registration. For "
           "details call {support_phone}.", first_name=NAME),
        _t("pin_locked_30_minutes",
           "{first_name}, 3 wrong PINs were entered on your Mkopo account, so your PIN is "
           "locked for 30 minutes. Not you? Call {support_phone}.", first_name=NAME),
        _t("pin_locked_24_hours",
           "{first_name}, 3 more wrong PINs were entered on your Mkopo account, so your PIN "
           "is locked for 24 hours. Not you? Call {support_phone}.", first_name=NAME),
        _t("pin_locked_until_unlocked",
           "{first_name}, too many wrong PINs on your Mkopo account: your PIN is locked. To "
           "unlock it, visit your field partner or call {support_phone}.", first_name=NAME),
        _t("pin_unlocked",
           "{first_name}, your Mkopo PIN is unlocked. Dial {ussd_code} and enter your PIN. "
           "Forgot it? Call {support_phone}.", first_name=NAME),
        _t("lender_loan_funded",
           "Your {amount} share of loan {reference} is funded. Repayments come to you as "
           "the borrower pays.", audience=LENDER, reference=REFERENCE, amount=MONEY),
        _t("survey_invitation",
           "{first_name}, help us see how Mkopo helps you: a few private questions. Dial "
           "{ussd_code}, choose More services, then Survey. It is free.", first_name=NAME),
        _t("tip_save_daily", "Tip: save a little every day, even KES 20."),
        _t("tip_needs_first", "Tip: pay needs first, then wants."),
        _t("tip_apart", "Tip: keep business and home money apart."),
        _t("tip_no_loan_for_loan", "Tip: never borrow to repay a loan."),
        _t("tip_compare_apr", "Tip: compare loans by their APR."),
        _t("lender_repayment_received",
           "You received {amount} from loan {reference}. Your available balance is "
           "{balance}.", audience=LENDER, reference=REFERENCE, amount=MONEY, balance=MONEY),
        # The daily digest of repayments: a head, a line per repayment (with the balance it
        # left), "and n more" when the lines would not fit, and the total.
        _t("lender_digest_head", "Mkopo repayments to your wallet, {date}:", audience=LENDER,
           date=DATE),
        _t("lender_digest_line", "{reference} +{amount}, balance {balance}", audience=LENDER,
           reference=REFERENCE, amount=MONEY, balance=MONEY),
        _t("lender_digest_more", "...and {count} more", audience=LENDER, count=COUNT),
        _t("lender_digest_total",
           "Total {amount} from {count} repayments. Available balance after them: {balance}.",
           audience=LENDER, amount=MONEY, count=COUNT, balance=MONEY),
    )
}

TIP_TEMPLATES = ("tip_save_daily", "tip_needs_first", "tip_apart", "tip_no_loan_for_loan",
                 "tip_compare_apr")
"""Financial-education tips, one of which may follow a reminder (messaging.reminders)."""

REMINDER_TEMPLATES = ("reminder_upcoming", "reminder_due_today", "reminder_late",
                      "reminder_late_help")


def get_template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise TemplateError(f"no SMS template {name!r}") from None


def source_strings() -> list[str]:
    """Every English string that needs a translation: templates and frequency words."""
    return [t.source for t in TEMPLATES.values()] + list(FREQUENCIES.values())


def language_or_default(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def render(template: str, language: str, **params: object) -> str:
    """The message in `language`, params formatted by kind, transliterated to GSM-7."""
    spec = get_template(template)
    language = language_or_default(language)
    missing = spec.fields - params.keys()
    if missing:
        raise TemplateError(f"{template} needs {', '.join(sorted(missing))}")
    values = {
        field: _format(spec.kinds.get(field, CODE), params[field], language)
        for field in spec.fields
    }
    return _gsm7(translator.gettext(language, spec.source, **values))


def _format(kind: str, value: object, language: str) -> str:
    if kind == MONEY:
        if not isinstance(value, Money):
            raise TemplateError(f"money params are Money, not {type(value).__name__}")
        return format_money(value.minor, value.currency)
    if kind == DATE:
        if not isinstance(value, date):
            raise TemplateError(f"date params are dates, not {type(value).__name__}")
        return value.strftime("%d/%m/%Y")
    if kind == FREQUENCY:
        word = FREQUENCIES.get(str(value))
        if word is None:
            raise TemplateError(f"unknown frequency {value!r}")
        return translator.gettext(language, word)
    text = _gsm7(" ".join(str(value).split()))
    return _short_name(text) if kind == NAME else text


def _short_name(name: str) -> str:
    """At most NAME_MAX septets, preferring to end at a space or hyphen."""
    if septets(name) <= NAME_MAX:
        return name
    cut = truncate_septets(name, NAME_MAX)
    boundary = max(cut.rfind(" "), cut.rfind("-"))
    return cut[:boundary] if boundary > 0 else cut


def _plain(text: str) -> bool:
    """Printable ASCII but the backtick: GSM-7 already, with nothing to transliterate."""
    return text.isascii() and text.isprintable() and "`" not in text


def _gsm7(text: str) -> str:
    # The fast path matters when a reminder run renders a hundred thousand messages.
    return text if _plain(text) else to_gsm7(text)


def segments(body: str) -> int:
    """`core.gsm7.sms_segments`, with a fast path for plain ASCII bodies."""
    if not _plain(body):
        return sms_segments(body)
    length = len(body) + sum(body.count(ch) for ch in EXTENSION)
    return 1 if length <= SMS_SINGLE else -(-length // SMS_MULTI)
