"""Reconciliation commands: `import-statement FILE` and `reconcile`."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import click

from core import runtime as runtime_module
from core.runtime import Runtime
from reconciliation.config import ReconConfig
from reconciliation.run import reconcile
from reconciliation.statements import import_statement


def _runtime() -> Runtime:
    return runtime_module.current()


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@click.command("import-statement")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_statement_command(file: Path) -> None:
    """Import an M-Pesa organisation statement (CSV): every row, or none and a report."""
    runtime = _runtime()
    with runtime.db.transaction() as session, file.open("rb") as stream:
        report = import_statement(session, stream, file_name=file.name, actor=_actor(),
                                  tz=runtime.settings.timezone)
    if not report.ok:
        for error in report.errors:
            click.echo(str(error), err=True)
        hidden = report.error_count - len(report.errors)
        if hidden:
            click.echo(f"… and {hidden} more", err=True)
        raise click.ClickException(
            f"{file.name}: nothing imported ({report.error_count} problem(s))")
    click.echo(f"{file.name}: imported {report.lines} line(s) as import #{report.import_id} "
               f"(paid in {report.paid_in_total / 100:,.2f}, "
               f"withdrawn {report.withdrawn_total / 100:,.2f})")


@click.command("reconcile")
@click.option("--json", "as_json", is_flag=True, help="Print the run's figures as JSON.")
def reconcile_command(as_json: bool) -> None:
    """Match statements, callbacks, intents and the ledger; open breaks for the rest."""
    with _runtime().db.transaction() as session:
        summary = reconcile(session, actor=_actor(), config=ReconConfig.from_env())
    if as_json:
        click.echo(json.dumps(summary.to_json(), sort_keys=True))
        return
    click.echo(f"run #{summary.run_id}: {summary.items_added} new item(s) of ours")
    click.echo("matched: " + ", ".join(f"{k} {v}" for k, v in summary.matched.items()))
    click.echo("new breaks: " + ", ".join(f"{k} {v}" for k, v in summary.breaks.items()))
    click.echo(f"breaks cleared: {summary.closed}")


commands = [import_statement_command, reconcile_command]
