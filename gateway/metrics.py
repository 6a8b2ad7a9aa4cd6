"""Prometheus metrics: request latency per endpoint, plus whatever the domain counts."""

from __future__ import annotations

import time

from flask import Flask, Response, abort, g, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from gateway.database import get_runtime
from gateway.provider_guards import address_allowed, secret_matches

REQUEST_LATENCY = Histogram(
    "mkopo_http_request_seconds", "HTTP request latency", ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
USSD_DROPOFF = Counter(
    "mkopo_ussd_session_end_total", "USSD sessions ended, by last screen and status",
    ["screen", "status"],
)


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("request_started", None)
    if started is not None:
        REQUEST_LATENCY.labels(
            request.endpoint or "unmatched", request.method, str(response.status_code)
        ).observe(time.perf_counter() - started)
    return response


LOOPBACK = ("127.0.0.0/8", "::1")


def metrics_view() -> Response:
    """Prometheus text; in production only for METRICS_TOKEN's bearer, else only from loopback."""
    if not _may_scrape():
        abort(404)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


def _may_scrape() -> bool:
    settings = get_runtime().settings
    if not settings.is_production:
        return True
    if settings.metrics_token:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secret_matches(token.strip(),
                                                             settings.metrics_token)
    return address_allowed(request.remote_addr, LOOPBACK)


def init_app(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", metrics_view)
