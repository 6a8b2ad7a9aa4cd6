"""`flask --app gateway seed-demo`: the demo world (`devtools.demo`) and its console logins."""

from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from devtools import demo
from gateway.api_keys import create_api_key
from gateway.operators import create_operator
from gateway.ops_models import Operator
from gateway.wiring import wire


def seed_demo(session: Session) -> bool:
    """Build the demo world and its two console logins unless there; True when created."""
    wire()  # the demo runs the real services: every domain's ports are installed
    if not demo.seed(session):
        return False
    create_operator(session, email=demo.OPERATOR_EMAIL, password=demo.OPERATOR_PASSWORD,
                    role="admin", name="Demo administrator")
    create_operator(session, email=demo.APPROVER_EMAIL, password=demo.APPROVER_PASSWORD,
                    role="approver", name="Demo approver")
    return True


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo data (idempotent): partner, lenders, borrowers, loans in every state."""
    runtime = current_app.extensions["mkopo"]
    if runtime.settings.is_production:
        # Demo data is known logins, a printed operator key and money that never moved.
        raise click.ClickException("seed-demo is refused in production (MKOPO_ENV=production): "
                                   "it creates known logins and money that never moved")
    with runtime.db.transaction() as session:
        created = seed_demo(session)
        token = None
        if created:
            admin = session.scalar(select(Operator).where(Operator.email == demo.OPERATOR_EMAIL))
            assert admin is not None
            _, token = create_api_key(session, role="operator", owner_id=admin.id, name="demo")
    click.echo("demo data created" if created else "demo data already present")
    # Printed on every run: whoever restarts the dev server needs the logins again.
    for login in demo.demo_logins():
        click.echo(f"  {login}")
    if token:
        click.echo(f"  operator API key (acts for {demo.OPERATOR_EMAIL}; shown once): {token}")
    else:
        click.echo(f"  operator API key: shown once when first seeded; make another with "
                   f"flask --app gateway create-api-key --role operator --operator "
                   f"{demo.OPERATOR_EMAIL}")


commands = [seed_demo_command]
