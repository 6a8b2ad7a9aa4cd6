"""One SQLAlchemy session per request, closed at teardown: rolled back unless committed, or
committed when it only read (`core.db.ends_as_read`: the same outcome, and the driver keeps
its prepared statements)."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from core.db import ends_as_read
from core.runtime import Runtime

logger = logging.getLogger(__name__)


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
    """Close the request's session; a connection that died meanwhile must not fail the answer.

    Teardown runs after the response is built: an exception here would replace it
    with the server's own HTML 500 (a phone would see an error instead of its screen).
    """
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        if _exc is None and ends_as_read(session):
            session.commit()  # not ROLLBACK: the driver keeps its prepared statements
        session.close()
    except Exception as exc:  # noqa: BLE001 - logged; the answer already stands
        logger.warning("closing the request's database session failed: %s",
                       type(exc).__name__, exc_info=True)
        _discard(session)


def _discard(session: Session) -> None:
    """Drop the session's connections without returning them to the pool as they are."""
    try:
        session.invalidate()
    except Exception:  # noqa: BLE001 - nothing more can be done for a dead connection
        logger.warning("invalidating a failed database session failed", exc_info=True)


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close_session)
