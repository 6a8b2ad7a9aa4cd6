"""The phone simulator: a feature phone in the browser, driving the real endpoints.

The page posts to the real `/ussd`; STK prompts are answered through the
M-Pesa simulator provider, which posts the real Daraja callbacks over HTTP;
the SMS inbox is what the simulator SMS sender stored. Development and test only.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request

from gateway.database import get_runtime, get_session
from gateway.errors import json_error
from gateway.simulator import services

MPESA_MAX = 15_000_000  # KES 150,000: the most one M-Pesa payment can carry
bp = Blueprint(
    "simulator", __name__, url_prefix="/simulator",
    template_folder="templates", static_folder="static",
)


@bp.get("")
@bp.get("/")
def phone():
    """The simulator page."""
    settings = get_runtime().settings
    return render_template("simulator/phone.html", service_code=settings.ussd_service_code,
                           paybill=settings.paybill_number)


@bp.get("/api/phones")
def phones():
    """Demo phones to switch between: borrowers, lenders, and a fresh number."""
    return jsonify(phones=services.demo_phones(get_session()))


@bp.get("/api/inbox")
def inbox():
    """SMS messages the simulator sender delivered to a phone, newest first."""
    phone_number = services.phone_arg(request.args.get("phone", ""))
    if phone_number is None:
        return json_error(400, "invalid_phone", "Give ?phone= as a valid phone number.")
    return jsonify(messages=services.inbox(get_session(), phone_number))


@bp.get("/api/prompts")
def prompts():
    """M-Pesa PIN prompts waiting on a phone."""
    phone_number = services.phone_arg(request.args.get("phone", ""))
    if phone_number is None:
        return json_error(400, "invalid_phone", "Give ?phone= as a valid phone number.")
    return jsonify(prompts=services.pending_prompts(phone_number))


@bp.post("/api/prompts/<prompt_id>")
def answer(prompt_id: str):
    """Enter the M-Pesa PIN (or cancel): the simulator posts the real callback."""
    data = _json_object()
    pin = data.get("pin")
    if pin is not None and not (isinstance(pin, str) and _digits(pin) and len(pin) == 4):
        return json_error(400, "invalid_pin", "An M-Pesa PIN is four digits.")
    if not (_digits(prompt_id) and len(prompt_id) <= 18) or not services.answer_prompt(
        prompt_id, pin
    ):
        return json_error(404, "not_found", "No such prompt, or it was already answered.")
    return jsonify(status="answered")


@bp.post("/api/paybill")
def paybill():
    """Pay from the M-Pesa menu (C2B): the simulator posts validation and confirmation."""
    data = _json_object()
    phone_number = services.phone_arg(str(data.get("phone", "")))
    account = str(data.get("account", "")).strip()[:20]
    amount = data.get("amount")
    if (phone_number is None or not account or not isinstance(amount, int)
            or isinstance(amount, bool) or not 100 <= amount <= MPESA_MAX or amount % 100):
        return json_error(400, "invalid_payment",
                          "Give phone, account and a whole-shilling amount in cents "
                          "(KES 1 to KES 150,000).")
    services.pay_bill(phone_number, amount, account)
    return jsonify(status="sent")


@bp.post("/api/sim-swap")
def sim_swap():
    """The telco reports that this phone's SIM was swapped (now, or `days_ago` days ago)."""
    data = _json_object()
    phone_number = services.phone_arg(str(data.get("phone", "")))
    days_ago = data.get("days_ago", 0)
    if (phone_number is None or not isinstance(days_ago, int) or isinstance(days_ago, bool)
            or not 0 <= days_ago <= 365):
        return json_error(400, "invalid_sim_swap", "Give phone, and days_ago from 0 to 365.")
    services.report_sim_swap(phone_number, days_ago)
    return jsonify(status="swapped", phone=phone_number, days_ago=days_ago)


def _json_object() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@bp.get("/api/timeline")
def timeline():
    """What happened behind the scenes: callbacks, jobs, ledger entries, SMS."""
    return jsonify(events=services.timeline(get_session(), limit=40))


def _digits(text: str) -> bool:
    # isdigit() alone accepts "²" and "٣", which int() refuses or reads as another number.
    return text.isascii() and text.isdigit()
