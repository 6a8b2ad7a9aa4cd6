"""Startup checks: a process that cannot work says why in one line, before it starts serving.

Every entry point (the `flask` commands, gunicorn's master, the dev server) calls
`check_database` once; a `ConfigurationError` it raises is printed as one line
that says what is wrong and what to do, and the process exits non-zero.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from core.settings import DATABASE_URL_EXAMPLE as EXAMPLE
from core.settings import ConfigurationError, Settings

CONNECT_TIMEOUT_S = 5


class DatabaseUnavailable(ConfigurationError):
    """The configured database cannot be reached or used."""


def check_database(settings: Settings) -> None:
    """Connect once to the configured database; raise DatabaseUnavailable saying why not."""
    url = settings.sqlalchemy_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, object] = {}
    else:
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S}
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args,
                           hide_parameters=True)
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        raise DatabaseUnavailable(describe_failure(parsed, exc)) from None
    finally:
        engine.dispose()


def describe_failure(url: URL, exc: DBAPIError) -> str:
    """One line: what went wrong with the database, and what to do about it."""
    reason = " ".join(str(exc.orig).split()) if exc.orig is not None else str(exc)
    lowered = reason.lower()
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        return (f"cannot open the SQLite database {path} ({_first(reason)}): make its folder "
                "writable (MKOPO_INSTANCE_PATH) or set DATABASE_URL")
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    if "does not exist" in lowered and "database" in lowered:
        return (f'database "{url.database}" does not exist on PostgreSQL at {where}: create it '
                f"(createdb -h {url.host or 'localhost'} -p {url.port or 5432}"
                f"{' -U ' + url.username if url.username else ''} {url.database}) "
                "or fix DATABASE_URL")
    if "authentication" in lowered or "password" in lowered or "role" in lowered:
        return (f"PostgreSQL at {where} refused user {url.username or '(none)'} "
                f"({_first(reason)}): fix the user or password in DATABASE_URL")
    return (f"cannot reach PostgreSQL at {where} ({_first(reason)}): start PostgreSQL there "
            f"or point DATABASE_URL at a running server ({EXAMPLE})")


def _first(reason: str, limit: int = 160) -> str:
    """The driver's reason, trimmed to fit one line."""
    text = reason.split(" (Background on this error")[0].split(" Is the server running")[0]
    text = text.rsplit("failed: ", 1)[-1].strip()  # libpq nests "connection … failed: why"
    return text if len(text) <= limit else text[: limit - 1] + "…"
