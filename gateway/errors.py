"""Error handlers: no stack trace ever reaches a caller; API paths answer JSON."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.exc import DataError
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.routing import IntegerConverter

logger = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/mpesa/"))


def json_error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def _http_error(exc: HTTPException) -> Response | tuple[Response, int]:
    status = exc.code or 500
    if wants_json():
        code = (exc.name or "error").lower().replace(" ", "_")
        response, _ = json_error(status, code, exc.description or exc.name)
    else:
        detail = f": {exc.description}" if status == 400 and exc.description else ""
        response = Response(f"{status} {exc.name}{detail}\n", mimetype="text/plain")
    # The exception's own headers carry meaning: Allow on a 405, WWW-Authenticate on a 401.
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, status


def unexpected_error(exc: Exception) -> Response | tuple[Response, int]:
    logger.exception("unhandled error on %s %s", request.method, request.path)
    if wants_json():
        return json_error(500, "internal_error", "Something went wrong; it has been logged.")
    return Response("500 Internal Server Error\n", status=500, mimetype="text/plain")


def _data_the_database_refused(exc: DataError | OverflowError) -> Response | tuple[Response, int]:
    """A value the database cannot hold (out of range, bad encoding) is the caller's error."""
    cause = getattr(exc, "orig", exc)
    logger.warning("database refused a value on %s %s: %s", request.method, request.path,
                   type(cause).__name__)
    return _http_error(BadRequest("A value in the request is out of range or malformed."))


def _refuse_nul_bytes() -> Response | tuple[Response, int] | None:
    """NUL never belongs in a phone's text, and PostgreSQL text cannot store it.

    /ussd is the exception: whatever a phone user types gets a screen, never an error
    status, so the USSD view drops NULs itself.
    """
    if request.path == "/ussd":
        return None
    values = [*request.args.values(), request.path]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += list(request.form.values())
    if any("\x00" in value for value in values):
        return _http_error(BadRequest("The request contains a NUL character."))
    return None


class BigIntConverter(IntegerConverter):
    """`<int:…>` path ids that fit a BIGINT column; anything larger is simply not found."""

    def __init__(self, map: object, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)  # type: ignore[arg-type]


def init_url_converters(app: Flask) -> None:
    """Before any blueprint is registered: rules compile with the converters of that time."""
    app.url_map.converters["int"] = BigIntConverter


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul_bytes)
    app.register_error_handler(DataError, _data_the_database_refused)
    # SQLite's driver raises a bare OverflowError for integers beyond 64 bits.
    app.register_error_handler(OverflowError, _data_the_database_refused)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, unexpected_error)


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with nesting too deep to parse treated as malformed (400), not a crash.

    The stdlib parser recurses per level and raises RecursionError, which is not the
    ValueError that `request.get_json(silent=True)` and Flask's 400 handling expect.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
