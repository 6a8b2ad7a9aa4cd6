"""Operator commands: `flask --app gateway register-c2b-urls | settle-pending`."""

from __future__ import annotations

import click
from sqlalchemy import select

from core import runtime
from payments.factory import provider_for
from payments.models import REQUESTED, UNKNOWN, PaymentIntent
from payments.processing import requeue_stuck
from payments.status import schedule_status_query


@click.command("register-c2b-urls")
def register_c2b_urls() -> None:
    """Tell M-Pesa where to send paybill validation and confirmation callbacks."""
    answer = provider_for(runtime.current().settings).register_c2b_urls()
    click.echo(f"C2B URLs registered: {answer.description}")


@click.command("settle-pending")
@click.option("--retry-unknown", is_flag=True,
              help="Give intents that ran out of status queries another round.")
def settle_pending(retry_unknown: bool) -> None:
    """Query M-Pesa now about every payment still waiting for an answer."""
    with runtime.current().db.transaction() as session:
        statuses = (REQUESTED, UNKNOWN) if retry_unknown else (REQUESTED,)
        waiting = list(session.scalars(
            select(PaymentIntent).where(PaymentIntent.status.in_(statuses))
            .order_by(PaymentIntent.id).with_for_update()))
        ordered = 0
        for intent in waiting:
            if intent.status == UNKNOWN:
                intent.status, intent.status_queries = REQUESTED, 0
            ordered += schedule_status_query(session, intent)
    callbacks = requeue_stuck()
    click.echo(f"status queries ordered: {ordered}; callbacks re-queued: {callbacks}")


commands = [register_c2b_urls, settle_pending]
