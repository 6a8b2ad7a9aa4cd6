"""A live server on a free port and headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_requirements import require_chromium, running_in_ci
from werkzeug.serving import make_server

from gateway import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def live_app(runtime, committed_db) -> Iterator[Any]:
    """The app on committed data, served over HTTP; simulator callbacks come back through it."""
    from payments.providers import simulator

    app = create_app({"RUNTIME": runtime, "MKOPO_ENV": "test",
                      "instance_path": runtime.settings.instance_path,
                      "callback_token": runtime.settings.callback_token,
                      "secret_key": runtime.settings.secret_key,
                      "pin_pepper": runtime.settings.pin_pepper})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["LIVE_URL"] = f"http://127.0.0.1:{server.server_port}"
    with simulator.using_transport(httpx.WSGITransport(app=app)):
        yield app
    simulator.clear_behaviours()
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def browser_page() -> Iterator[Any]:
    require_chromium(CHROMIUM, in_ci=running_in_ci())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            yield page
        finally:
            browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
