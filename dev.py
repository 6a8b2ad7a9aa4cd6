#!/usr/bin/env python3
"""Set up and run Mkopo on a bare machine with nothing but Python 3.11.

    python3 dev.py run     # the gateway with demo data on the embedded defaults
    python3 dev.py test    # the test suite (PostgreSQL/Redis if DATABASE_URL/REDIS_URL are set)

Creates `.venv` on first use and installs the pinned dependencies into it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".mkopo-installed"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "requirements.lock"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create the virtual environment and install the locked dependencies when they changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by any python3
        raise SystemExit("Mkopo needs Python 3.11 or newer")
    if not PYTHON.exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    print("installing dependencies (pinned in requirements.lock) …", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", "requirements.lock", "-e", ".[dev]"], check=True, cwd=ROOT)
    STAMP.write_text(_fingerprint())


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "setup"):
        print(__doc__)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    os.chdir(ROOT)
    if command == "run":
        return subprocess.call([str(PYTHON), "-m", "devtools.devserver", *rest])
    if command == "test":
        return subprocess.call([str(PYTHON), "-m", "pytest", *rest])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
