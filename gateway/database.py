"""One SQLAlchemy session per request, closed (and rolled back unless committed) at teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from core.runtime import Runtime


def get_runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["mkopo"]
    return runtime


def get_session() -> Session:
    """The request's session; views commit through it once the service has succeeded."""
    if "db_session" not in g:
        g.db_session = get_runtime().db.session()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close_session)
