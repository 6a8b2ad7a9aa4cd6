"""The public transparency page: /transparency (HTML) and /transparency.json, no login."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template

from core.clock import utcnow
from gateway.database import get_runtime, get_session
from impact.transparency import transparency
from lending.localtime import today

bp = Blueprint("transparency", __name__, template_folder="templates")

LABELS = {
    "access": "Access to finance", "business": "Business results", "household":
    "Household (food, schooling, health)", "financial_management": "Managing money",
    "resilience": "Resilience",
}


def figures() -> dict[str, Any]:
    """Every public figure, computed now from the ledger and the loan book."""
    return transparency(get_session(), today(), utcnow(), get_runtime().settings.timezone)


@bp.get("/transparency")
def page() -> str:
    """The figures and how each is computed, readable by anyone."""
    return render_template("transparency.html", data=figures(), labels=LABELS)


@bp.get("/transparency.json")
def as_json() -> Response:
    """The same figures as JSON."""
    return jsonify(figures())


@bp.app_template_filter("kes")
def kes(minor: int | None) -> str:
    if minor is None:
        return "–"
    return f"KES {minor // 100:,}"


@bp.app_template_filter("pct")
def pct(value: str | None) -> str:
    return "–" if value is None else f"{value}%"
