"""A worker killed with SIGKILL takes its children (rq's scheduler) with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"),
                                 reason="the parent-death signal is Linux's")]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the ppid is the second field after the parenthesised command name
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_a_sigkilled_worker_leaves_no_child_behind(runtime, committed_db, redis) -> None:
    settings = runtime.settings
    env = {**os.environ, "MKOPO_ENV": "test", "DATABASE_URL": settings.database_url,
           "REDIS_URL": runtime.redis_url, "MKOPO_INSTANCE_PATH": str(settings.instance_path),
           "LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "gateway", "worker"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for(lambda: children_of(worker.pid), 60), "the worker forked no scheduler"
        children = children_of(worker.pid)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        assert wait_for(lambda: not any(alive(child) for child in children), 15), (
            f"children {children} outlived their worker")
    finally:
        try:
            os.killpg(worker.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            pass
