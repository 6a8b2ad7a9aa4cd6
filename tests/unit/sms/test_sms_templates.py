"""Every template, in both languages, fits one GSM-7 segment with worst-case values."""

from __future__ import annotations

from datetime import date
from string import Formatter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.gsm7 import is_gsm7, septets, sms_segments
from core.money import Money
from messaging import templates as t
from messaging.templates import (
    TEMPLATES,
    TemplateError,
    render,
    segments,
    source_strings,
    translator,
)

LANGUAGES = ("en", "sw")
WORST = {
    t.NAME: "Wanjiku-Nyambura Kamau-Otieno",
    t.REFERENCE: "ML-26-00012345",
    t.MONEY: Money(100_000_050),
    t.DATE: date(2026, 12, 31),
    t.COUNT: 52,
    t.FREQUENCY: "fortnightly",
}
HOUSE = {"paybill": "1234567", "support_phone": "0800 720 000", "ussd_code": "*384*123*99#"}


def worst_case(name: str) -> dict[str, object]:
    template = TEMPLATES[name]
    params = {f: WORST[template.kinds[f]] for f in template.fields if f not in HOUSE}
    return {**HOUSE, **params}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_is_one_gsm7_segment_at_its_longest(name: str, language: str) -> None:
    body = render(name, language, **worst_case(name))
    assert is_gsm7(body)
    assert "{" not in body
    assert sms_segments(body) == 1, f"{septets(body)} septets: {body}"


@pytest.mark.parametrize("frequency", sorted(t.FREQUENCIES))
@pytest.mark.parametrize("language", LANGUAGES)
def test_disbursement_fits_for_every_frequency(frequency: str, language: str) -> None:
    body = render("loan_disbursed", language, **{**worst_case("loan_disbursed"),
                                                  "frequency": frequency})
    assert sms_segments(body) == 1


def test_the_swahili_catalog_translates_every_string() -> None:
    assert translator.missing("sw", source_strings()) == []


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_swahili_uses_the_same_placeholders_and_differs_from_english(name: str) -> None:
    source = TEMPLATES[name].source
    swahili = translator.gettext("sw", source)
    fields = {f for _, f, _, _ in Formatter().parse(swahili) if f}
    assert fields == TEMPLATES[name].fields
    assert swahili != source


def test_receipt_reads_exactly_in_english_and_swahili() -> None:
    params = {**HOUSE, "amount": Money(100_000_000), "reference": "ML-1042",
              "balance": Money(250_050), "next_amount": Money(150_000),
              "next_date": date(2026, 3, 9)}
    assert render("repayment_receipt", "en", **params) == (
        "Received KES 1,000,000 for loan ML-1042, thank you. Balance KES 2,500.50. "
        "Next: KES 1,500 due 09/03/2026."
    )
    assert render("repayment_receipt", "sw", **params) == (
        "Tumepokea KES 1,000,000 kwa mkopo ML-1042, asante. Salio KES 2,500.50. "
        "Malipo yajayo: KES 1,500 tarehe 09/03/2026."
    )


def test_disbursement_summarises_the_schedule_with_translated_frequency() -> None:
    params = {**HOUSE, "amount": Money(500_000), "reference": "ML-7", "count": 4,
              "installment": Money(132_500), "frequency": "weekly",
              "first_due": date(2026, 3, 9)}
    assert render("loan_disbursed", "sw", **params) == (
        "KES 5,000 zimetumwa kwa M-Pesa yako. Lipa 4 x KES 1,325 kila wiki kuanzia "
        "09/03/2026. Paybill 1234567, akaunti ML-7."
    )


@pytest.mark.parametrize(("name", "shown"), [
    ("Wanjiku-Nyambura Kamau-Otieno", "Wanjiku-Nyambura"),
    ("Abcdefghijklmnopqrstuvwxyz", "Abcdefghijklmnopqrst"),
    ("Zoë", "Zoe"),
    ("  Amina   Njeri ", "Amina Njeri"),
])
def test_names_are_cut_at_a_word_break_and_made_gsm7(name: str, shown: str) -> None:
    body = render("loan_repaid", "en", **{**worst_case("loan_repaid"), "first_name": name})
    assert body.startswith(f"Congratulations {shown}! ")


def test_an_unknown_language_falls_back_to_english() -> None:
    body = render("help_reply", "fr", **HOUSE)
    assert body == render("help_reply", "en", **HOUSE)


@pytest.mark.parametrize(("params", "message"), [
    ({}, "repay_requested needs amount"),
    ({"amount": 500}, "money params are Money, not int"),
])
def test_wrong_params_are_refused(params: dict[str, object], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render("repay_requested", "en", **HOUSE, **params)


def test_an_unknown_template_is_refused() -> None:
    with pytest.raises(TemplateError, match="no SMS template 'nope'"):
        render("nope", "en")


@given(st.text(max_size=400))
def test_the_fast_segment_count_agrees_with_the_gsm7_module(body: str) -> None:
    assert segments(body) == sms_segments(body)


@pytest.mark.parametrize("body", ["a" * 160, "a" * 161, "{" * 80, "{" * 81, "`", "é" * 161])
def test_the_fast_segment_count_agrees_at_the_edges(body: str) -> None:
    assert segments(body) == sms_segments(body)


@pytest.mark.parametrize(("language", "words"), [
    ("en", ("BAL", "REPAY", "SAVE", "STOP", "START")),
    ("sw", ("SALIO", "LIPA", "AKIBA", "ACHA", "ANZA")),
])
def test_the_help_reply_names_every_command_in_one_sms(language, words) -> None:
    body = render("help_reply", language, **HOUSE)
    assert all(word in body for word in words), body
    assert segments(body) == 1
