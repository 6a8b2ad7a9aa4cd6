"""The operator console's blueprint: `bp`, CSRF protection and security headers.

Security, all scoped to this blueprint so that the JSON API and the provider
callbacks are untouched: CSRF tokens on every form (flask-wtf's CSRFProtect,
initialised with WTF_CSRF_CHECK_DEFAULT off and called from this blueprint's
own `before_request`), a session that is renewed at login and expires after
idle time, strict security headers, and role checks on every view.
"""

from __future__ import annotations

from flask import Blueprint, Response
from flask.blueprints import BlueprintSetupState
from flask_wtf.csrf import CSRFProtect

bp = Blueprint("ops", __name__, url_prefix="/ops", template_folder="templates",
               static_folder="static", static_url_path="/static")
csrf = CSRFProtect()

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@bp.record_once
def _init_csrf(state: BlueprintSetupState) -> None:
    app = state.app
    # CSRFProtect would otherwise guard every POST in the app, callbacks and API included.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    csrf.init_app(app)


@bp.after_request
def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
