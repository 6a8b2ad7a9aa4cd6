"""Liveness and readiness."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from gateway.database import get_runtime, get_session

logger = logging.getLogger(__name__)
bp = Blueprint("health", __name__)
FAVICON_MAX_AGE = 7 * 24 * 3600
# Read once: a few hundred bytes served from memory leave no file handle for a
# client that never reads the body to keep open.
FAVICON_SVG = (Path(__file__).resolve().parent / "static" / "favicon.svg").read_bytes()


@bp.get("/favicon.ico")
def favicon():
    """The icon every page links; browsers also ask this address of pages that link none."""
    response = Response(FAVICON_SVG, mimetype="image/svg+xml")
    response.cache_control.public = True
    response.cache_control.max_age = FAVICON_MAX_AGE
    return response


@bp.get("/healthz")
def healthz():
    """Answer while the process runs."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Answer 200 only when the database and Redis both answer."""
    runtime = get_runtime()
    checks = {"database": _check_database(), "redis": _check_redis(runtime)}
    ready = all(checks.values())
    return jsonify(status="ready" if ready else "unavailable", checks=checks), (
        200 if ready else 503
    )


def _check_database() -> bool:
    try:
        get_session().execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - readiness reports, it does not raise
        logger.warning("readiness: database check failed", exc_info=True)
        return False


def _check_redis(runtime) -> bool:
    try:
        return bool(runtime.redis.ping())
    except Exception:  # noqa: BLE001
        logger.warning("readiness: redis check failed", exc_info=True)
        return False
