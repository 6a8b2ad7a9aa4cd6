"""Operators' commands: API keys and console accounts."""

from __future__ import annotations

import click
from flask import current_app

from gateway.auth import create_api_key, create_operator
from gateway.ops_models import API_ROLES, OPERATOR_ROLES


def _transaction():
    return current_app.extensions["mkopo"].db.transaction()


@click.command("create-api-key")
@click.option("--role", type=click.Choice(API_ROLES), required=True)
@click.option("--owner", "owner_id", type=int, default=None,
              help="member id (lender) or field partner id (field_partner)")
@click.option("--name", default="", help="what the key is for")
def create_api_key_command(role: str, owner_id: int | None, name: str) -> None:
    """Create an API key and print it once."""
    try:
        with _transaction() as session:
            key, token = create_api_key(session, role=role, owner_id=owner_id, name=name)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(token)


@click.command("create-operator")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(OPERATOR_ROLES), default="admin", show_default=True)
@click.option("--name", default="")
@click.option("--field-partner", "field_partner_id", type=int, default=None)
@click.password_option(envvar="MKOPO_OPERATOR_PASSWORD")
def create_operator_command(email: str, role: str, name: str, field_partner_id: int | None,
                            password: str) -> None:
    """Create an operator console account."""
    try:
        with _transaction() as session:
            create_operator(session, email=email, password=password, role=role, name=name,
                            field_partner_id=field_partner_id)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"operator {email} ({role}) created")


commands = [create_api_key_command, create_operator_command]
