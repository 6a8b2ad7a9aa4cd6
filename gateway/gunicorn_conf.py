"""gunicorn settings for every web process: `gunicorn -c python:gateway.gunicorn_conf …`.

- The master checks the configuration and the database before it forks a
  worker: a bad `DATABASE_URL` is one line ("Error: …") and exit status 1,
  not a traceback per worker that fails to boot.
- The access log masks the M-Pesa callback token (the secret path segment)
  and phone numbers in every field of every line.
- The phone simulator's page polls its inbox, prompts and timeline every few
  seconds; those answered polls stay out of the access log unless gunicorn's
  log level is debug (60 lines a minute of nothing otherwise).

The repository's `gunicorn.conf.py` loads this module, so a bare
`gunicorn 'gateway:create_app()'` started from the checkout gets it too.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from core.settings import Settings
from core.startup import check_database
from gateway.logs import mask_secrets_in

POLLED_PATHS = frozenset({"/simulator/api/inbox", "/simulator/api/prompts",
                          "/simulator/api/timeline"})


def is_routine_poll(method: str, path: str, status: int | None) -> bool:
    """A page's timer asking again, answered: nothing anyone needs to read."""
    return method == "GET" and path in POLLED_PATHS and status is not None and status < 400


class MaskedAtoms(dict[str, Any]):
    """gunicorn's atoms, each masked (then quote-escaped, as gunicorn's `SafeAtoms` does)
    only when the access log format reads it: the format reads ~9 of the ~30 atoms
    (every header and environ entry is one), and masking them all cost 4x gunicorn's own
    work per request."""

    def __getitem__(self, key: str) -> Any:
        if key.startswith("{"):
            key = key.lower()
        value = self.get(key, "-")
        return mask_secrets_in(value).replace('"', '\\"') if isinstance(value, str) else value


class MaskingLogger(Logger):
    """gunicorn's logger, with callback tokens and phone numbers masked in access lines."""

    atoms_wrapper_class = MaskedAtoms

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        quiet = str(self.cfg.loglevel).lower() != "debug"
        if quiet and is_routine_poll(environ.get("REQUEST_METHOD", ""),
                                     environ.get("PATH_INFO", ""),
                                     getattr(resp, "status_code", None)):
            return
        super().access(resp, req, environ, request_time)


def on_starting(server: Any) -> None:
    """Refuse to start when the configuration or the database is unusable.

    gunicorn prints a RuntimeError raised here as one line and exits 1
    (`ConfigurationError` is one).
    """
    check_database(Settings.from_env())


logger_class = MaskingLogger
