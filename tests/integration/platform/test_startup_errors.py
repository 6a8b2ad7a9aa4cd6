"""A process that cannot start says why in one line and exits non-zero: no traceback wall.

Each entry point runs as a real subprocess (`flask --app gateway …`, gunicorn with
the project's config, the dev server) with a DATABASE_URL that cannot work, importing
this checkout's packages (PYTHONPATH), whatever the venv was installed from.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def closed_port() -> int:
    """A local port nothing listens on (bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unreachable() -> str:
    return f"postgresql://postgres@127.0.0.1:{closed_port()}/mkopo"


COMMANDS = {
    "flask db upgrade": [sys.executable, "-m", "flask", "--app", "gateway", "db", "upgrade"],
    "flask worker": [sys.executable, "-m", "flask", "--app", "gateway", "worker"],
    "gunicorn": [str(BIN / "gunicorn"), "gateway:create_app()", "-c",
                 "python:gateway.gunicorn_conf", "--bind", "127.0.0.1:0"],
    "dev.py run": [sys.executable, "-m", "devtools.devserver", "--port", "0"],
}


def start(command: list[str], database_url: str, tmp_path: Path) -> tuple[int, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MKOPO_", "DATABASE_"))}
    env.update(DATABASE_URL=database_url, MKOPO_ENV="development",
               MKOPO_INSTANCE_PATH=str(tmp_path), REDIS_URL=env.get("REDIS_URL", ""),
               PYTHONPATH=str(ROOT))
    if not env["REDIS_URL"]:
        del env["REDIS_URL"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    output = (done.stdout + done.stderr).splitlines()
    # gunicorn's own "[date] [pid] [INFO] Starting gunicorn" banner is not an error line
    lines = [line for line in output if line.strip() and not line.startswith("[")]
    return done.returncode, lines


def assert_one_clear_line(returncode: int, lines: list[str], *words: str) -> None:
    assert returncode != 0
    assert not any("Traceback" in line for line in lines), "\n".join(lines)
    assert len(lines) == 1, "\n".join(lines)
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("name", COMMANDS)
def test_an_unreachable_database_is_one_line_and_a_non_zero_exit(name, tmp_path) -> None:
    returncode, lines = start(COMMANDS[name], unreachable(), tmp_path)
    assert_one_clear_line(returncode, lines, "cannot reach PostgreSQL", "DATABASE_URL")


@pytest.mark.parametrize(("name", "url", "words"), [
    ("flask db upgrade", "mysql://root@127.0.0.1/mkopo",
     ("'mysql'", "does not support", "postgresql://")),
    ("gunicorn", "not a database url", ("not a database URL", "postgresql://")),
], ids=["unsupported-scheme", "not-a-url"])
def test_an_unusable_database_url_is_one_line(name, url, words, tmp_path) -> None:
    returncode, lines = start(COMMANDS[name], url, tmp_path)
    assert_one_clear_line(returncode, lines, "DATABASE_URL", *words)


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["flask db upgrade", "gunicorn"])
def test_a_missing_database_says_how_to_create_it(name, runtime, tmp_path) -> None:
    if runtime.db.dialect != "postgresql":
        pytest.skip("needs a PostgreSQL server to ask for a database it does not have")
    missing = f"mkopo_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(runtime.settings.database_url).set(database=missing)
    returncode, lines = start(COMMANDS[name], url.render_as_string(hide_password=False),
                              tmp_path)
    assert_one_clear_line(returncode, lines, f'database "{missing}" does not exist',
                          "createdb", missing)
