"""gunicorn's access log, as the Procfile runs it, never holds the callback token."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "access-log-token-that-must-never-be-written-0123456789"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_access_log_masks_the_callback_token_and_phone_numbers(
    runtime, committed_db, tmp_path
) -> None:
    port, log = free_port(), tmp_path / "access.log"
    env = {**os.environ, "MKOPO_ENV": "test", "DATABASE_URL": runtime.settings.database_url,
           "REDIS_URL": runtime.redis_url, "CALLBACK_TOKEN": TOKEN,
           "MKOPO_INSTANCE_PATH": str(runtime.settings.instance_path), "LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(ROOT)}  # this checkout, however the venv was installed
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "gateway:create_app()",
         "-c", "python:gateway.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--access-logfile", str(log)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        # a GET is answered 405 and stores nothing; the path is logged all the same
        assert httpx.get(f"{base}/mpesa/{TOKEN}/stk").status_code == 405
        assert httpx.get(f"{base}/mpesa/{TOKEN[:-1]}/stk").status_code in (404, 405)
        httpx.get(f"{base}/healthz?phone=%2B254711000101&token={TOKEN}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    written = log.read_text()
    assert written.count("/mpesa/***/stk") == 2, written
    assert TOKEN[:-1] not in written and "254711000101" not in written, written
