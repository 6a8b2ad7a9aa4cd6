"""bench/ussd_vs_anysd.py checks every screen of its Mkopo walks: those checks must pass on
the real menus (or the bench would count working screens as unexpected), and fail on others."""

from __future__ import annotations

from typing import Any

import pytest

from bench.ussd_load import Texts
from bench.ussd_vs_anysd import menu_walk, pin_walk, problem, texts_sent


@pytest.mark.parametrize("lang", ["en", "sw"])
@pytest.mark.parametrize("walk_of", [menu_walk, pin_walk])
def test_each_walk_expects_the_screens_the_menus_show(ussd: Any, services: Any, walk_of: Any,
                                                      lang: str) -> None:
    services.add_member(ussd.phone, language=lang)
    walk = walk_of(Texts(), lang)
    ussd.dial()
    for n, (step, text) in enumerate(zip(walk, texts_sent(walk), strict=True)):
        if n:
            ussd.reply(text.rsplit("*", 1)[-1])
        screen = ("END " if ussd.ended else "CON ") + ussd.screen
        assert problem(step, 200, screen) is None, (n, screen)


def test_a_wrong_pin_is_an_unexpected_screen(ussd: Any, services: Any) -> None:
    services.add_member(ussd.phone)
    walk = pin_walk(Texts(), "en")
    ussd.dial("1", "2468")
    assert problem(walk[2], 200, ("END " if ussd.ended else "CON ") + ussd.screen) == "unexpected"
