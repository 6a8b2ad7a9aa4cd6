"""The three-step balance menu of issue 14 built on anysd: Flask + Redis, no database.

    dial          -> CON Main Menu: 1. Balance
    1             -> CON Enter your PIN
    1*1357        -> END Your balance is KES 1,234.00

Runs in its own venv (bench/anysd/requirements.txt: anysd needs redis 4.x, the project 8.x):

    .venv-bench-anysd/bin/gunicorn --chdir bench/anysd app:app

anysd keeps each session's navigation and answers in a Redis hash; the balance is a fixed
number, so this is what a USSD step costs with a helper library and no domain behind it.
The request is the Africa's Talking form the project's /ussd takes, so one load generator
drives both.
"""

from __future__ import annotations

import os
from pathlib import Path

# anysd reads its Redis settings from a file when it is imported
os.environ.setdefault("ANYSD_CONFIG_FILE", str(Path(__file__).with_name("config.yaml")))

from anysd import FormFlow, NavigationController, NavigationMenu  # noqa: E402
from flask import Flask, Response, request  # noqa: E402

PIN = "1357"  # the bench's PIN for every phone
BALANCE = 123_400  # minor units


def check_step(current_step: int, last_input: str, **_: object) -> tuple[bool, None]:
    """anysd's step validator: the PIN step passes only with the right PIN."""
    if current_step == 1:
        return last_input == PIN, None
    return True, None


def balance_screen(**_: object) -> str:
    return f"END Your balance is KES {BALANCE // 100:,}.{BALANCE % 100:02d}"


balance_form = FormFlow(
    form_questions={
        "1": {"name": "PIN", "menu": "CON Enter your PIN"},
        "2": {"name": "BALANCE", "menu": balance_screen},
    },
    step_validator=check_step,
)
home = NavigationMenu(name="home", title="Main Menu", show_title=True)
NavigationMenu(name="balance", title="Balance", parent=home, next_form=balance_form)

app = Flask("ussd_anysd")


@app.post("/ussd")
def ussd() -> Response:
    form = request.form
    navigator = NavigationController(home, form.get("phoneNumber", ""),
                                     form.get("sessionId", ""), form.get("text", ""))
    return Response(navigator.navigate(), mimetype="text/plain")


@app.get("/healthz")
def healthz() -> Response:
    return Response("ok", mimetype="text/plain")
