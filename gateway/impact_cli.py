"""`flask --app gateway impact …`: install the default survey, send invitations, book costs."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup

from core.clock import utcnow
from impact import expenses
from impact.jobs import send_invitations
from impact.surveys import ensure_default_survey

impact_cli = AppGroup("impact", help="Impact surveys and operating expenses.")


@impact_cli.command("install-survey")
def install_survey() -> None:
    """Install the default survey (active if no survey is); idempotent."""
    runtime = current_app.extensions["mkopo"]
    with runtime.db.transaction() as session:
        survey = ensure_default_survey(session)
        click.echo(f"survey {survey.code} installed ({'active' if survey.active else 'inactive'})")


@impact_cli.command("invite")
def invite() -> None:
    """Invite by SMS everyone due a survey now (the scheduler does this daily)."""
    runtime = current_app.extensions["mkopo"]
    with runtime.db.transaction() as session:
        count = send_invitations(session, utcnow(), runtime.settings.timezone)
    click.echo(f"{count} invitations sent")


@impact_cli.command("record-expense")
@click.option("--key", required=True, help="idempotency key, e.g. the invoice number")
@click.option("--category", required=True, type=click.Choice(expenses.CATEGORIES))
@click.option("--amount", required=True, type=int, help="minor units (cents)")
@click.option("--on", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--description", default="")
def record_expense(key: str, category: str, amount: int, day: datetime,
                   description: str) -> None:
    """Book an operating expense in the ledger (once per key)."""
    runtime = current_app.extensions["mkopo"]
    try:
        with runtime.db.transaction() as session:
            row = expenses.record_operating_expense(session, expenses.ExpenseRequest(
                key=key, category=category, amount=amount, description=description,
                incurred_on=day.replace(tzinfo=UTC, hour=12)), "cli")
            entry = row.journal_entry_id
    except expenses.ExpenseInvalid as exc:
        raise click.BadParameter(exc.message, param_hint=exc.field) from None
    click.echo(f"expense {key} booked (journal entry {entry})")


commands = [impact_cli]
