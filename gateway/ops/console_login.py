"""Who may use the console: login and logout, the signed-in session, roles per page.

Passwords and their lockout are operator accounts' (`gateway.operators`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from core.clock import utcnow
from gateway.database import get_session
from gateway.operators import LoginRefused, check_login, operator_actor
from gateway.ops.blueprint import bp, csrf
from gateway.ops_models import ROLE_RANK, Operator, audit
from reconciliation.resolutions import Actor

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

IDLE_TIMEOUT = timedelta(minutes=30)
PUBLIC_ENDPOINTS = {"ops.login", "ops.static"}

RANK = ROLE_RANK
SEES_PHONES = ("approver", "admin")


def current_operator() -> Operator:
    operator: Operator = g.operator
    return operator


def console_actor() -> Actor:
    """The logged-in operator as an actor for audit and maker-checker."""
    return operator_actor(current_operator())


def has_role(minimum: str) -> bool:
    operator = g.get("operator")
    return operator is not None and RANK[operator.role] >= RANK[minimum]


def is_partner_operator() -> bool:
    operator = g.get("operator")
    return operator is not None and operator.field_partner_id is not None


def requires(minimum: str, *, partners: bool = False) -> Callable[[F], F]:
    """Let the view run for operators of at least `minimum` role.

    Field-partner operators see only pages marked `partners=True` (their
    applications, their loans, their dashboard), never the money operations.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not has_role(minimum) or (is_partner_operator() and not partners):
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


@bp.before_request
def _load_operator() -> WerkzeugResponse | None:
    """Everything but the login page needs a live session; POSTs need a CSRF token."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and current_app.config.get(
            "WTF_CSRF_ENABLED", True):
        csrf.protect()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    operator = _session_operator()
    if operator is None:
        session.clear()
        return redirect(url_for("ops.login", next=request.full_path.rstrip("?")))
    g.operator = operator
    session["seen"] = utcnow().timestamp()
    return None


def _session_operator() -> Operator | None:
    operator_id, seen = session.get("operator_id"), session.get("seen")
    if not isinstance(operator_id, int) or not isinstance(seen, int | float):
        return None
    if utcnow().timestamp() - seen > IDLE_TIMEOUT.total_seconds():
        return None
    operator = get_session().get(Operator, operator_id)
    if operator is None or not operator.active:
        return None
    return operator


def _safe_next(target: str | None) -> str:
    """Only ever send a logged-in operator back into the console (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/ops/"):
            return target
    return url_for("ops.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign in with email and password; five failures lock the account for a while."""
    if request.method == "GET":
        return render_template("ops/login.html", next=request.args.get("next", ""))
    email = request.form.get("email", "")
    db = get_session()
    try:
        operator = check_login(db, email, request.form.get("password", ""))
    except LoginRefused as exc:
        db.commit()  # the failure count (and any lockout) must stick
        logger.info("console login refused")
        return render_template("ops/login.html", error=str(exc), email=email,
                               next=request.form.get("next", "")), 401
    audit(db, actor=str(operator_actor(operator)), action="ops.login",
          subject_type="operator", subject_id=operator.id)
    db.commit()
    session.clear()  # a fresh session at every login: no fixation
    session.permanent = True
    session["operator_id"], session["seen"] = operator.id, utcnow().timestamp()
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> WerkzeugResponse:
    """End the session."""
    session.clear()
    return redirect(url_for("ops.login"))
