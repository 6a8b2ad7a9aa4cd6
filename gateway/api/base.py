"""The JSON API's blueprint: bearer keys, JSON errors, pagination, an OpenAPI document.

Endpoint modules (`gateway/api/*.py`) declare their routes with `endpoint(...)`,
which registers the view on the blueprint and describes it in the OpenAPI
document at the same time, so the document cannot drift from the routes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request

from gateway.api_keys import require_api_key
from gateway.errors import json_error

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class ApiError(Exception):
    """A refusal with a status, a stable code and a message a developer can act on."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> tuple[Response, int]:
    response, status = json_error(exc.status, exc.code, exc.message)
    if exc.field is not None:
        payload = response.get_json()
        payload["error"]["field"] = exc.field
        response = jsonify(payload)
    return response, status


# --- request parsing -------------------------------------------------------------


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json",
                       "Send a JSON object with Content-Type: application/json.")
    return data


_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")  # ASCII digits only, and within BIGINT


def int_arg(name: str, *, default: int | None = None, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """An integer query argument within bounds, or a 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ApiError(400, "missing_parameter", f"'{name}' is required.", name)
        return default
    if not _WHOLE_NUMBER.fullmatch(raw.strip()):
        raise ApiError(400, "invalid_parameter", f"'{name}' must be a whole number.", name)
    value = int(raw)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ApiError(400, "invalid_parameter",
                       f"'{name}' must be between {minimum} and {maximum}.", name)
    return value


def choice_arg(name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
    raw = request.args.get(name, default)
    if raw is not None and raw not in choices:
        raise ApiError(400, "invalid_parameter", f"'{name}' must be one of {', '.join(choices)}.",
                       name)
    return raw


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def wrap(self, items: list[Any], total: int) -> dict[str, Any]:
        next_offset = self.offset + self.limit
        return {"items": items, "total": total, "limit": self.limit, "offset": self.offset,
                "next_offset": next_offset if next_offset < total else None}


def page_args(default_limit: int = 50) -> Page:
    return Page(limit=int_arg("limit", default=default_limit, minimum=1, maximum=200),
                offset=int_arg("offset", default=0, minimum=0, maximum=10_000_000))


# --- the OpenAPI document ----------------------------------------------------------

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Mkopo API",
        "version": "1",
        "description": "Loan products and quotes, loans, lenders, reconciliation, the ledger, "
        "savings and insurance (policies, claims, the pool). "
        "Amounts are integer minor units (KES cents). Errors are "
        '{"error": {"code", "message"}} with a 4xx status.',
    },
    "servers": [{"url": "/api/v1"}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"},
                    "field": {"type": "string"}}}},
            }
        },
    },
    "security": [{"bearer": []}],
    "paths": {},
}


def endpoint(
    rule: str, method: str, *, summary: str, roles: tuple[str, ...],
    parameters: list[Mapping[str, Any]] | None = None,
    body: Mapping[str, Any] | None = None,
    responses: Mapping[int, str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view under /api/v1 with bearer-key auth for `roles`, and document it."""
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        guarded = require_api_key(*roles)(view)
        bp.add_url_rule(rule, view.__name__, guarded, methods=[method])
        _describe(rule, method, summary, roles, parameters, body, responses)
        return guarded

    return decorator


def _describe(rule: str, method: str, summary: str, roles: tuple[str, ...],
              parameters: list[Mapping[str, Any]] | None, body: Mapping[str, Any] | None,
              responses: Mapping[int, str] | None) -> None:
    path = re.sub(r"<(?:[a-z]+:)?([A-Za-z_]+)>", r"{\1}", rule)
    operation: dict[str, Any] = {
        "summary": summary,
        "description": f"Roles: {', '.join(roles)}.",
        "parameters": [_with_enforced_limits(p) for p in parameters or []],
        "responses": {str(code): {"description": text} for code, text in
                      (responses or {200: "OK"}).items()},
    }
    path_names = _path_names(rule)
    for name, converter in path_names:
        operation["parameters"].append(
            {"name": name, "in": "path", "required": True, "schema": PATH_SCHEMAS[converter]})
    # Every operation may refuse the input, the key or the role; one with a path parameter
    # answers 404 for an id or code that names nothing (or nothing this key may see).
    # An id past what the path's converter takes matches no route: 404, or 405 where the
    # same path has a route for another method.
    for code in (400, 401, 403, *((404, 405) if path_names else ())):
        operation["responses"].setdefault(str(code), {"description": "error"})
    for code, response in operation["responses"].items():
        if int(code) >= 400:
            response.setdefault("content", {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}})
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _no_nul(dict(body))}}}
    SPEC["paths"].setdefault(path, {})[method.lower()] = operation


PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    # `int` is BigIntConverter: ASCII digits, 0 to 2**63-1 (anything else is a 404)
    "int": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
    "string": {"type": "string", "minLength": 1, "pattern": "^[^/\\x00]+$"},
}

ENFORCED_QUERY_LIMITS: dict[str, dict[str, Any]] = {
    "limit": {"minimum": 1, "maximum": 200},
    "offset": {"minimum": 0, "maximum": 10_000_000},
}
"""What `page_args` enforces, stated in the document of every operation that pages."""


def _with_enforced_limits(parameter: Mapping[str, Any]) -> dict[str, Any]:
    described = dict(parameter)
    limits = ENFORCED_QUERY_LIMITS.get(str(described.get("name")))
    if limits is not None and described.get("in") == "query":
        described["schema"] = {**limits, **dict(described.get("schema") or {}),
                               "type": "integer"}
    return described


def _path_names(rule: str) -> list[tuple[str, str]]:
    """(name, converter) of each path variable; converters other than int are strings."""
    names = []
    for part in rule.split("<")[1:]:
        converter, _, name = part.split(">")[0].rpartition(":")
        names.append((name, "int" if converter == "int" else "string"))
    return names


def query(name: str, description: str, schema: Mapping[str, Any] | None = None,
          required: bool = False) -> dict[str, Any]:
    described = dict(schema or {"type": "string"})
    if described.get("type") == "string" and "enum" not in described:
        described.setdefault("pattern", NO_NUL)  # a NUL anywhere in a request is a 400
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": described}


NO_NUL = "^[^\\x00]*$"


def _no_nul(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every free-text string stating it may hold no NUL (a 400 anywhere)."""
    if schema.get("type") == "string" and not {"enum", "pattern", "format"} & set(schema):
        schema = {**schema, "pattern": NO_NUL}
    for key in ("properties",):
        if isinstance(schema.get(key), dict):
            schema = {**schema, key: {name: _no_nul(dict(sub)) if isinstance(sub, Mapping)
                                      else sub for name, sub in schema[key].items()}}
    if isinstance(schema.get("items"), Mapping):
        schema = {**schema, "items": _no_nul(dict(schema["items"]))}
    return schema


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3 description of this API."""
    return jsonify(SPEC)
