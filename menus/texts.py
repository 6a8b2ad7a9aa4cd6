"""The menus' message catalog: every screen string is registered here and translated from .po."""

from __future__ import annotations

from pathlib import Path

from core.gsm7 import to_gsm7
from core.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator

LOCALES = Path(__file__).resolve().parent / "locales"
_translator = Translator(LOCALES)

MESSAGES: dict[str, None] = {}
"""Every English source string a screen can show, in registration order (for the catalogs)."""


def N_(message: str) -> str:
    """Mark a source string as a screen text; returns it unchanged."""
    MESSAGES.setdefault(message)
    return message


def language_or_default(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def translate(language: str, message: str, **params: object) -> str:
    """The message in `language`, formatted, in the GSM-7 alphabet a feature phone shows."""
    return to_gsm7(_translator.gettext(language_or_default(language), message, **params))


def missing(language: str) -> list[str]:
    """Registered messages with no translation in `language`."""
    return _translator.missing(language, list(MESSAGES))


# Navigation and engine-level screens.
BACK_HOME = N_("0 Back 00 Home")
MORE = N_("98 More")
INVALID_CHOICE = N_("Invalid choice.")
TOO_MANY_TRIES = N_("Too many invalid attempts. Please dial {code} again.")
SORRY = N_("Sorry, something went wrong. Please try again later.")
SESSION_OVER = N_("This session has ended. Please dial {code} again.")

REASONS = {
    "already_registered": N_("This phone number is already registered."),
    "id_in_use": N_("This ID number is already registered. Please call support."),
    "not_verified": N_("Your registration is still being verified. We will send you an SMS."),
    "account_inactive": N_("Your account is not active. Please call support."),
    "pin_locked": N_("Your PIN is locked. Please try again later."),
    "loan_active": N_("You already have a loan. Please repay it before applying again."),
    "application_pending": N_("You already have an application being reviewed."),
    "over_limit": N_("The amount is above your credit limit."),
    "below_minimum": N_("The amount is below the minimum for this loan."),
    "term_not_allowed": N_("That repayment period is not available."),
    "product_unavailable": N_("This loan is not available now."),
    "no_active_loan": N_("You have no loan to repay."),
    "amount_too_high": N_("The amount is more than you owe."),
    "payment_pending": N_("A payment request is already on its way. Please check your phone."),
    "service_unavailable": N_("This service is not available now. Please try again later."),
}


def reason(code: str) -> str:
    """The source string for a refusal; unknown codes get the generic one."""
    return REASONS.get(code, REASONS["service_unavailable"])
