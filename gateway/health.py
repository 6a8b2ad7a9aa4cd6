"""Liveness and readiness."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from gateway.database import get_runtime, get_session

logger = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


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
