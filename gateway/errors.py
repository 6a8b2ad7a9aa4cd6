"""Error handlers: no stack trace ever reaches a caller; API paths answer JSON."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/mpesa/"))


def json_error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def _http_error(exc: HTTPException) -> Response | tuple[Response, int]:
    status = exc.code or 500
    if wants_json():
        code = (exc.name or "error").lower().replace(" ", "_")
        return json_error(status, code, exc.description or exc.name)
    return Response(f"{status} {exc.name}\n", status=status, mimetype="text/plain")


def _unexpected_error(exc: Exception) -> Response | tuple[Response, int]:
    logger.exception("unhandled error on %s %s", request.method, request.path)
    if wants_json():
        return json_error(500, "internal_error", "Something went wrong; it has been logged.")
    return Response("500 Internal Server Error\n", status=500, mimetype="text/plain")


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
