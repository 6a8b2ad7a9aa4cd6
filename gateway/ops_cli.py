"""Operators' commands: API keys and console accounts."""

from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.api_keys import create_api_key
from gateway.operators import create_operator
from gateway.ops_models import API_ROLES, OPERATOR_ROLES, Operator


def _transaction():
    return current_app.extensions["mkopo"].db.transaction()


@click.command("create-api-key")
@click.option("--role", type=click.Choice(API_ROLES), required=True)
@click.option("--operator", "operator_email", default=None,
              help="operator keys: the email of the operator the key acts for")
@click.option("--owner", "owner_id", type=int, default=None,
              help="member id (lender) or field partner id (field_partner)")
@click.option("--name", default="", help="what the key is for")
def create_api_key_command(role: str, operator_email: str | None, owner_id: int | None,
                           name: str) -> None:
    """Create an API key and print it once; an operator key acts for a named operator."""
    if role == "operator" and not operator_email:
        raise click.UsageError("an operator key acts for a person: pass --operator EMAIL")
    if role != "operator" and operator_email:
        raise click.UsageError("--operator is for operator keys; use --owner")
    try:
        with _transaction() as session:
            if operator_email:
                owner_id = _operator_id(session, operator_email)
            key, token = create_api_key(session, role=role, owner_id=owner_id, name=name)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(token)


def _operator_id(session: Session, email: str) -> int:
    operator = session.scalar(select(Operator).where(Operator.email == email.strip().lower()))
    if operator is None:
        raise ValueError(f"no operator {email}; create one with create-operator")
    return operator.id


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
