"""Browser tests skip with a reason when Chromium is absent, and fail instead in CI."""

from __future__ import annotations

import pytest
from browser_requirements import require_chromium


def test_missing_chromium_skips_with_the_install_command_outside_ci(capsys) -> None:
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        require_chromium("/nonexistent/chromium", in_ci=False)
    assert "apt-get install chromium" in capsys.readouterr().out


def test_missing_chromium_fails_in_ci() -> None:
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_chromium("/nonexistent/chromium", in_ci=True)


def test_present_chromium_neither_skips_nor_fails(tmp_path) -> None:
    browser = tmp_path / "chromium"
    browser.write_text("")
    require_chromium(str(browser), in_ci=True)
