"""The operator console at /ops/ (views in gateway.ops.views)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ops", __name__, url_prefix="/ops", template_folder="templates",
               static_folder="static", static_url_path="/static")
