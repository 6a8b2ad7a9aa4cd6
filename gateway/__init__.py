"""The HTTP edge and process entry points. `create_app` is the one place parts are wired."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from core import runtime as runtime_module
from core.runtime import Runtime
from core.settings import ConfigurationError, Settings
from gateway import (
    api,
    database,
    errors,
    health,
    metrics,
    mpesa,
    ops,
    simulator,
    sms,
    transparency,
    ussd,
)
from gateway.cli import register_commands
from gateway.cookies import CookieSessionInterface
from gateway.logs import configure_logging
from gateway.wiring import wire

BLUEPRINTS = (health.bp, ussd.bp, sms.bp, mpesa.bp, api.bp, ops.bp, transparency.bp)
DEVELOPMENT_BLUEPRINTS = (simulator.bp,)
"""Blueprints served outside production only (the phone simulator)."""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app from the environment, with `config` overriding it."""
    settings = _settings(config)
    configure_logging(settings.log_level)
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.json = errors.BoundedJSONProvider(app)
    app.session_interface = CookieSessionInterface()
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.env == "test",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        MAX_CONTENT_LENGTH=1 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config.update({k: v for k, v in (config or {}).items() if k.isupper()})

    _trust_proxies(app, settings.trusted_proxy_hops)
    runtime = _runtime_for(settings, config)
    app.extensions["mkopo"] = runtime

    errors.init_url_converters(app)
    database.init_app(app)
    errors.init_app(app)
    metrics.init_app(app)
    _register_blueprints(app, settings)
    register_commands(app)
    wire()
    ussd.warm_up(settings.default_region)
    return app


def _trust_proxies(app: Flask, hops: int) -> None:
    """Behind `hops` reverse proxies, the client address is the one they forwarded.

    Only that many X-Forwarded-For entries (counted from the right, the ones our own
    proxies appended) are believed, so a caller cannot forge its address past them; the
    M-Pesa and Africa's Talking allowlists then check the real client.
    """
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def _settings(config: Mapping[str, Any] | None) -> Settings:
    """The settings; under a `flask` command a bad configuration is one line, not a traceback."""
    try:
        return Settings.from_env(overrides=config)
    except ConfigurationError as exc:
        if click.get_current_context(silent=True) is not None:
            raise click.ClickException(str(exc)) from None
        raise


def _runtime_for(settings: Settings, config: Mapping[str, Any] | None) -> Runtime:
    """Reuse a runtime handed in by tests; otherwise build this process's runtime."""
    given = (config or {}).get("RUNTIME")
    if isinstance(given, Runtime):
        return runtime_module.configure(given)
    return runtime_module.configure(Runtime(settings))


def _register_blueprints(app: Flask, settings: Settings) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    if not settings.is_production:
        for blueprint in DEVELOPMENT_BLUEPRINTS:
            app.register_blueprint(blueprint)
