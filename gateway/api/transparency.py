"""The public figures in the API too: GET /api/v1/transparency needs no key."""

from __future__ import annotations

from flask import Response, jsonify

from gateway.api.base import SPEC, bp
from gateway.transparency import figures

PATH = "/transparency"


def transparency_json() -> Response:
    """Every public figure, computed now (see /transparency for the method)."""
    return jsonify(figures())


bp.add_url_rule(PATH, "transparency", transparency_json, methods=["GET"])
SPEC["paths"][PATH] = {"get": {
    "summary": "Public figures per field partner and platform-wide (no key needed)",
    "description": "Loans and amounts, repayment rate, PAR30, default and write-off rates, "
                   "average APR, cost of credit, operating cost ratio, women's share and "
                   "impact survey results, with the method of each figure.",
    "security": [],
    "parameters": [],
    "responses": {"200": {"description": "{as_of, platform, field_partners, method}"}},
}}
