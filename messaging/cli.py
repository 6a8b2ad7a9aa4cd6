"""`flask --app gateway send-reminders`: plan and send today's repayment reminders now."""

from __future__ import annotations

import click

from messaging.reminders import run_reminders


@click.command("send-reminders")
def send_reminders() -> None:
    """Queue the reminders due now (idempotent: a second run sends nothing new)."""
    plan = run_reminders()
    if plan is None:
        raise click.ClickException("no lending adapter installed; nothing to remind about")
    when = plan.not_before.isoformat() if plan.not_before else "now"
    click.echo(
        f"reminders for {plan.day.isoformat()} (sending {when}): {plan.queued} queued, "
        f"{plan.suppressed} suppressed (opted out), {plan.already_planned} already planned, "
        f"{plan.released} released for sending"
    )


commands: list[click.Command] = [send_reminders]
