"""`dev.py run` says where to go and how to get in, every time, once the web answers."""

from __future__ import annotations

import io

from devtools.demo import DEMO_PIN, OPERATOR_EMAIL, OPERATOR_PASSWORD, demo_logins
from devtools.devserver import announce_when_ready, banner


def test_the_banner_has_the_addresses_and_the_demo_logins() -> None:
    text = banner("http://127.0.0.1:5000", demo_logins())
    assert "http://127.0.0.1:5000/simulator" in text and "http://127.0.0.1:5000/ops/" in text
    assert f"PIN: {DEMO_PIN}" in text
    assert f"{OPERATOR_EMAIL} / {OPERATOR_PASSWORD}" in text and "approver@mkopo.test" in text


def test_without_demo_data_the_banner_has_no_logins() -> None:
    text = banner("http://127.0.0.1:5000")
    assert "PIN" not in text and "demo logins" not in text and "/ops/" in text


def test_the_banner_waits_for_the_web_to_answer() -> None:
    asked: list[str] = []

    def probe(url: str) -> bool:
        asked.append(url)
        return len(asked) >= 3

    out = io.StringIO()
    assert announce_when_ready("http://h:1", "HELLO", out=out, probe=probe, every=0)
    assert out.getvalue() == "HELLO\n" and asked == ["http://h:1/healthz"] * 3


def test_a_web_that_never_answers_prints_nothing() -> None:
    out = io.StringIO()
    assert not announce_when_ready("http://h:1", "HELLO", out=out, probe=lambda _: False,
                                   timeout=0, every=0)
    assert out.getvalue() == ""
