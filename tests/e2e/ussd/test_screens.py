"""Screens fit a feature phone: pagination, GSM-7, and complete catalogs in both languages."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

import menus.engine  # noqa: F401 - registers every flow's messages
from core.gsm7 import USSD_MAX, is_gsm7, septets
from menus.ports import StatementLine
from menus.screens import end_screen, paginate
from menus.texts import LOCALES, MESSAGES, missing, translate

from support.ussd import PHONE, Phone

# The longest values a placeholder can take on a real screen.
WORST = {
    "code": "*384*123#", "name": "Nyakwar-Achieng", "phone": "0800 720 000",
    "tries": 2, "time": "23:59", "low": "KES 1,000,000", "high": "KES 10,000,000",
    "flow": "Lalamiko au ugumu wa kulipa", "ref": "MK0012345678", "status": "umeidhinishwa",
    "amount": "KES 10,000,000", "date": "31/12/2026", "installment": "KES 1,000,000.50",
    "n": 52, "every": "kila wiki 2", "total": "KES 12,000,000", "cost": "KES 2,000,000",
    "apr": "123.4", "fee": "KES 100,000", "net": "KES 9,900,000", "paybill": "600100",
    "account": "MK0012345678", "current": "Kabla na siku ya kulipa",
    "goal": "Karo ya shule ya Amin", "target": "KES 1,000,000", "rate": "12.25",
    "chama": "Tumaini Women Group 2", "round": 52, "pot": "KES 4,500,000.50",
    "due": "KES 150,000", "rate_line": "",
    "premium": "KES 100,000", "days": 365, "benefit": "KES 100,000", "nights": 30,
    "cover": "Bima ya hospitali", "what": "usiku 30 hospitalini",
}


def _catalog(language: str) -> dict[str, str]:
    with (LOCALES / f"{language}.po").open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle) if m.id}


@pytest.mark.parametrize("language", ["en", "sw"])
def test_the_catalog_translates_every_screen_string(language: str) -> None:
    assert missing(language) == []


@pytest.mark.parametrize("language", ["en", "sw"])
def test_the_catalog_has_no_stale_strings(language: str) -> None:
    assert sorted(set(_catalog(language)) - set(MESSAGES)) == []


@pytest.mark.parametrize("language", ["en", "sw"])
def test_translations_keep_their_placeholders(language: str) -> None:
    for source, text in _catalog(language).items():
        assert set(re.findall(r"{\w+}", source)) == set(re.findall(r"{\w+}", text)), source


def test_the_swahili_catalog_is_really_swahili() -> None:
    catalog = _catalog("sw")
    same = [s for s, t in catalog.items() if s == t]
    assert set(same) <= {"English", "Kiswahili"}  # language names stay in their own tongue


@pytest.mark.parametrize("language", ["en", "sw"])
@pytest.mark.parametrize("message", list(MESSAGES))
def test_every_string_fits_a_screen_with_room_for_navigation(language: str,
                                                             message: str) -> None:
    text = translate(language, message, **WORST)
    assert is_gsm7(text)
    assert septets(text) <= USSD_MAX - len("\n0 Back 00 Home"), text
    assert end_screen(text).text == text  # an END screen is never cut


def test_a_long_screen_is_paginated_with_more_and_back() -> None:
    body = "\n".join(f"{n} {'Transaction line with a long reference'} {n}" for n in range(12))
    pages = paginate(body, "0 Back 00 Home", "98 More")
    assert len(pages) > 1
    for page in pages[:-1]:
        assert page.endswith("98 More\n0 Back 00 Home")
    assert pages[-1].endswith("0 Back 00 Home") and "98 More" not in pages[-1]
    assert all(septets(page) <= USSD_MAX for page in pages)
    joined = "\n".join(pages)
    assert all(f"{n} Transaction" in joined for n in range(12))


def test_extension_characters_count_twice() -> None:
    pages = paginate("[]" * 100, "", "98 More")
    assert all(septets(page) <= USSD_MAX for page in pages)
    assert len(pages) == 3  # 400 septets at most 174 a page, with room for "98 More"


def test_non_gsm_text_is_transliterated() -> None:
    assert paginate("Café “Mama” — ₿", "", "98 More") == ['Café "Mama" - ?']


@given(st.text(max_size=2000), st.text(max_size=30))
def test_pagination_always_fits(body: str, footer: str) -> None:
    for page in paginate(body, footer, "98 More"):
        assert septets(page) <= USSD_MAX
        assert is_gsm7(page)


def test_statement_pages_forward_and_back(ussd, services, member) -> None:
    services.statements[member.view.id] = [
        StatementLine(date(2026, 2, day), "repayment", 1_234_567, f"QK{day:02d}REFERENCE{day}")
        for day in range(1, 6)
    ]
    services.statements[member.view.id].insert(0, StatementLine(date(2026, 1, 1), "fee", 5))
    ussd.dial("4", "1357")
    first = ussd.expect("Mini statement", "98 More", end=False)
    second = ussd.reply("98")
    assert second != first and "REFERENCE" in second
    assert ussd.reply("0") == first
    ussd.reply("98")
    while "98 More" in ussd.screen:
        ussd.reply("98")
    ussd.reply("98")  # past the last page: an invalid answer, never a crash
    ussd.expect("Invalid choice.", end=False)


def test_more_on_a_single_page_is_a_normal_answer(ussd, member) -> None:
    ussd.dial("98")
    ussd.expect("Invalid choice.", "1 My balance", end=False)


def test_every_home_screen_fits_in_both_languages(client, services, clock) -> None:

    for n, language in enumerate(["en", "sw"]):
        phone = f"{PHONE[:-1]}{n + 5}"
        services.add_member(phone, name="Nyakwar-Achieng Wanjiku", language=language)
        handset = Phone(client, phone)
        for option in "1234567":
            handset.dial(option)
            assert septets(handset.screen) <= USSD_MAX


def test_the_catalog_files_exist_where_the_translator_reads() -> None:
    assert {p.name for p in Path(LOCALES).glob("*.po")} >= {"en.po", "sw.po"}
