import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.gsm7 import BASIC, EXTENSION, is_gsm7, septets, sms_segments, to_gsm7, truncate_septets


def test_extension_characters_count_twice() -> None:
    assert septets("abc") == 3
    assert septets("{€}") == 6


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("Asante “sana”", 'Asante "sana"'),
        ("naïve café", "naive café"),
        ("Zoë – ok…", "Zoe - ok..."),
    ],
)
def test_to_gsm7_transliterates(raw: str, plain: str) -> None:
    assert to_gsm7(raw) == plain


def test_segments_for_gsm7_and_unicode() -> None:
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("a" * 306) == 2
    assert sms_segments("€" * 80) == 1
    assert sms_segments("€" * 81) == 2
    assert sms_segments("😀" * 10) == 1  # UCS-2: surrogate pairs, 20 units


@given(st.text(alphabet=(BASIC + EXTENSION).replace("\x1b", ""), max_size=400))
def test_text_already_in_the_alphabet_is_kept_as_it_is(text: str) -> None:
    assert to_gsm7(text) == text


@given(st.text(max_size=400))
def test_to_gsm7_always_yields_the_alphabet(text: str) -> None:
    assert is_gsm7(to_gsm7(text))


@given(st.text(max_size=400), st.integers(0, 200))
def test_truncate_never_passes_the_limit(text: str, limit: int) -> None:
    cut = truncate_septets(to_gsm7(text), limit)
    assert septets(cut) <= limit
