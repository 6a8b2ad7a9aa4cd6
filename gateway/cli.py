"""`flask --app gateway …` commands: migrations, worker, scheduler, and each package's own."""

from __future__ import annotations

import functools
import logging
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from core.jobs import QUEUES
from core.outbox import sweep
from core.runtime import Runtime
from core.settings import ConfigurationError
from core.startup import check_database
from gateway import demo_cli, impact_cli, ops_cli
from gateway.migrate import downgrade, upgrade
from gateway.worker import run_scheduler, run_worker
from messaging import cli as messaging_cli
from payments import cli as payments_cli
from reconciliation import cli as reconciliation_cli

logger = logging.getLogger(__name__)

db_cli = AppGroup("db", help="Database schema migrations (Alembic).")

COMMAND_MODULES = (demo_cli, ops_cli, reconciliation_cli, payments_cli, messaging_cli, impact_cli)
"""Modules that expose `commands`: a list of click commands to register."""


def _runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["mkopo"]
    return runtime


@db_cli.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Bring the database schema up to date."""
    runtime = _runtime()
    runtime.settings.instance_path.mkdir(parents=True, exist_ok=True)
    upgrade(runtime.settings.sqlalchemy_url, revision)
    click.echo(f"database at {revision} ({runtime.db.dialect})")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Step the schema back to REVISION (e.g. `base`)."""
    downgrade(_runtime().settings.sqlalchemy_url, revision)
    click.echo(f"database at {revision}")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker_command(burst: bool) -> None:
    """Run an rq worker on every queue, with rq's scheduler for delayed jobs and retries."""
    run_worker(_runtime(), burst=burst)


@click.command("scheduler")
def scheduler_command() -> None:
    """Run the periodic-job scheduler (sweeps, reminders, daily arrears)."""
    run_scheduler(_runtime())


@click.command("sweep")
def sweep_command() -> None:
    """Re-dispatch stuck outbox items now."""
    click.echo(f"re-enqueued {sweep()} outbox item(s)")


def register_commands(app: Flask) -> None:
    for command in db_cli.commands.values():
        _check_database_first(command)
    app.cli.add_command(db_cli)
    for command in (worker_command, scheduler_command, sweep_command):
        _add(app, command)
    for module in COMMAND_MODULES:
        for command in module.commands:
            _add(app, command)


def _add(app: Flask, command: click.Command) -> None:
    """Register a plain click command so that it runs inside the app context."""
    _check_database_first(command)
    if command.callback is not None and not getattr(command.callback, "_in_app_context", False):
        command.callback = with_appcontext(command.callback)
        command.callback._in_app_context = True  # type: ignore[attr-defined]
    app.cli.add_command(command)


def _check_database_first(command: click.Command) -> None:
    """Run the command only once the database answers; otherwise one line says why (exit 1)."""
    callback = command.callback
    if callback is None or getattr(callback, "_checks_database", False):
        return

    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            check_database(_runtime().settings)
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None
        return callback(*args, **kwargs)

    checked._checks_database = True  # type: ignore[attr-defined]
    command.callback = checked


__all__ = ["QUEUES", "register_commands"]
