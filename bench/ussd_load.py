"""Load bench for `/ussd`: the real domain under gunicorn on PostgreSQL + Redis vs a bare endpoint.

    .venv/bin/python bench/ussd_load.py            # about 4 minutes, stops by itself

1. Drops and recreates its own database (`mkopo_bench_ussd` on 127.0.0.1 as
   `postgres`), flushes Redis db 9, migrates, and seeds through the real
   services: `seed-demo`'s world plus 200 borrowers with running loans (some
   late) and 100 borrowers free to apply (a quarter with a repaid loan in their
   history). The PIN (1357 for everyone) is hashed once and the
   hash reused while seeding; the server verifies it with the real keyed HMAC.
2. For each gunicorn sizing (gthread, workers x threads) starts two servers with
   the same settings: `gunicorn 'gateway:create_app()'` in production mode, and
   `bare_app()` below (a Flask view that reads the form and answers `END ok`),
   the ceiling of this machine, server and HTTP stack.
3. Closed loop: 100 concurrent sessions, no think time, against each; then, on
   the best sizing, the realistic run: 100 concurrent sessions with 2-5 s of
   human think time between screens, where latency is what the telco sees.

Sessions are real borrowers' journeys (balance with PIN, a mistyped PIN,
mini statement, applying through the disclosure then declining or signing,
repaying the next installment (an STK push written to the outbox; no worker
runs, so no provider is called), help, account settings, registrations of new
phones). Every screen is checked against what that journey expects in the
borrower's language, so a bench of error screens cannot pass for a fast one.
Between runs the world is put back with the real services: prompts cancelled
by the phone, applications withdrawn, Redis flushed.

Requests that check or hash a PIN are reported apart (`PIN` lines); with the keyed
HMAC of `lending.pins` they cost a few microseconds more than other steps.

Environment (all optional): BENCH_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/mkopo_bench_ussd; the database is dropped,
so its name must contain "bench"), BENCH_REDIS_URL (default
redis://127.0.0.1:6379/9; flushed).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/mkopo_bench_ussd"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
PIN = "1357"  # devtools.demo.DEMO_PIN
WRONG_PIN = "2468"
SERVICE_CODE = "*384*123#"
EXTRA_ACTIVE, EXTRA_FREE, BENCH_LENDERS = 200, 100, 4
THINK = (2.0, 5.0)  # seconds a person takes to read a screen and type
REDIAL = (0.5, 1.5)  # seconds before the next session of the same (realistic) caller
# fixed, so --reuse-db finds PINs that still match
BENCH_PEPPER = "mkopo-ussd-bench-pepper-of-32-bytes-at-least"
BENCH_PIN_KEY = "mkopo-ussd-bench-pin-key-of-32-bytes-at-least"
REGISTRATIONS = itertools.count()  # new phones and ID numbers, never reused in a bench


# --- the bare endpoint (imported by its own gunicorn: keep this module's imports light) ----


def bare_app() -> Any:
    """A Flask app whose /ussd reads the form and answers at once: the ceiling."""
    from flask import Flask, Response, request

    app = Flask("ussd_bare")

    @app.post("/ussd")
    def ussd() -> Response:
        request.form.get("text", "")
        return Response("END ok", mimetype="text/plain")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", mimetype="text/plain")

    return app


# --- database, Redis and the seeded world -------------------------------------------------


@dataclass(frozen=True)
class Phone:
    number: str
    lang: str


@dataclass
class World:
    active: list[Phone] = field(default_factory=list)  # a running loan: may repay
    free: list[Phone] = field(default_factory=list)  # no open loan: may apply
    other: list[Phone] = field(default_factory=list)  # a loan in review, funding or payout


def recreate_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to drop {name!r}: a bench database's name contains 'bench'")
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
            "-U", parts.username or "postgres"]
    env = {**os.environ, "PGOPTIONS": "-c client_min_messages=warning",
           **({"PGPASSWORD": parts.password} if parts.password else {})}
    subprocess.run(["dropdb", *args, "--if-exists", "--force", name], check=True, env=env)
    subprocess.run(["createdb", *args, name], check=True, env=env)


def server_env(database_url: str, redis_url: str, instance: Path) -> dict[str, str]:
    """What both the seeding process and gunicorn run with: production, fixed secrets."""
    return {
        "MKOPO_ENV": "production", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(32), "CALLBACK_TOKEN": secrets.token_urlsafe(24),
        "PIN_PEPPER": BENCH_PEPPER, "PIN_KEY": BENCH_PIN_KEY, "MKOPO_INSTANCE_PATH": str(instance),
        "LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT),
        # Production refuses the simulators. No worker runs during the bench, so nothing is
        # ever sent with these placeholder credentials.
        "SMS_PROVIDER": "africastalking", "AT_USERNAME": "sandbox", "AT_API_KEY": "bench",
        "MOBILE_MONEY_PROVIDER": "daraja", "MPESA_ENV": "sandbox",
    }


def open_runtime(env: dict[str, str]) -> Any:
    from core import runtime as runtime_module
    from core.runtime import Runtime
    from core.settings import Settings
    from gateway.wiring import wire

    wire()  # reset_world settles repayment prompts: the intent kinds must be registered
    return runtime_module.configure(Runtime(Settings.from_env(overrides=env)))


FIRST = ("Amani", "Njeri", "Kamau", "Atieno", "Wekesa", "Nekesa", "Mwende", "Kiprono", "Auma",
         "Mutiso", "Wairimu", "Omondi", "Chepkoech", "Nduta", "Baraka", "Halima")
LAST = ("Odhiambo", "Kariuki", "Wanjala", "Mutua", "Cheruiyot", "Ochieng", "Njoroge", "Barasa")
PLACES = (("Nakuru", "retail"), ("Kisumu", "fishing"), ("Eldoret", "farming"),
          ("Machakos", "transport"), ("Nyeri", "food"), ("Kitale", "farming"))


def seed_world(runtime: Any, rng: random.Random) -> World:
    """The demo world plus EXTRA_ACTIVE running loans and EXTRA_FREE free borrowers."""
    from sqlalchemy import select

    from devtools import demo
    from lending import members
    from lending.applications import apply_for_loan, approve_loan
    from lending.loans import outstanding_balance
    from lending.models import FieldPartner, Loan, Member

    real_hash = members.hash_pin
    pin_hash = real_hash(PIN)
    members.hash_pin = lambda pin: pin_hash if pin == PIN else real_hash(pin)  # seeding only
    receipts = itertools.count(1)

    class Extra(demo.Demo):
        def receipt(self) -> str:
            return f"SBU{next(receipts):07d}"

        def person(self, phone: str, n: int) -> demo.Person:
            place, sector = rng.choice(PLACES)
            return demo.Person(phone, rng.choice(FIRST), rng.choice(LAST), f"4{n:07d}",
                               rng.choice("fm"), place, sector,
                               "sw" if rng.random() < 0.2 else "en")

        def running_loan(self, member_id: int, key: str, amount: int, term: int) -> Loan:
            loan = apply_for_loan(self.session, member_id=member_id, product_code="BIASHARA",
                                  amount=amount, term=term, purpose="Stock for the business",
                                  idempotency_key=key)
            approve_loan(self.session, loan.id, actor="bench-field-officer")
            self.fund_fully(loan)
            self.disbursed(loan)
            self.session.flush()
            return loan

    def extra_in(session: Any) -> Extra:
        extra = Extra(session)
        extra.partner = session.scalar(select(FieldPartner).where(
            FieldPartner.name == demo.PARTNER))
        return extra

    world = World()
    with runtime.db.transaction() as session:
        demo.seed(session)
    for state, person in demo.BORROWERS.items():
        pool = {"active": world.active, "arrears": world.active, "repaid": world.free,
                "rejected": world.free, "unverified": None}.get(state, world.other)
        if pool is not None:
            pool.append(Phone(person.phone, person.language))

    with runtime.db.transaction() as session:
        extra = extra_in(session)
        lender_ids = [extra.lender(extra.person(f"+2547229{n:05d}", 90_000 + n), 100_000_000).id
                      for n in range(BENCH_LENDERS)]

    def active(extra: Extra, n: int) -> None:
        person = extra.person(f"+2547220{n:05d}", n)
        days = rng.randint(2, 25)  # paid out up to 3 weeks ago
        with demo.backdated(days=days):
            member = extra.member(person)
            loan = extra.running_loan(member.id, f"bench-active-{n}",
                                      rng.randrange(100_000, 200_001, 10_000),
                                      rng.choice((4, 8, 12)))
            for week in range(days // 7):
                demo.advance(days=7)
                if rng.random() < 0.85:  # the others are late
                    extra.repay_next(loan, f"bench-active-{n}-{week}")
        world.active.append(Phone(person.phone, person.language))

    def free(extra: Extra, n: int) -> None:
        person = extra.person(f"+2547221{n:05d}", 10_000 + n)
        with demo.backdated(days=40):
            member = extra.member(person)
            if n % 4 == 0:  # some repaid a loan before, early and in one go
                loan = extra.running_loan(member.id, f"bench-free-{n}", 150_000, 4)
                demo.advance(days=10)
                extra.repay(loan, -(-outstanding_balance(loan) // 100) * 100, f"bench-free-{n}")
        world.free.append(Phone(person.phone, person.language))

    for make, count in ((active, EXTRA_ACTIVE), (free, EXTRA_FREE)):
        for start in range(0, count, 25):  # 25 borrowers to a transaction
            with runtime.db.transaction() as session:
                extra = extra_in(session)
                for n in range(start, min(start + 25, count)):
                    extra.lenders = [session.get(Member, lender_ids[n % len(lender_ids)])]
                    make(extra, n)  # one lender funds each loan: fewer postings to seed
    members.hash_pin = real_hash
    return world


def world_in(runtime: Any) -> World:
    """The world a previous run seeded (--reuse-db), read back from the database."""
    from sqlalchemy import select

    from devtools import demo
    from lending.models import Member

    global REGISTRATIONS
    world = World()
    states = {person.phone: state for state, person in demo.BORROWERS.items()}
    registered = 0
    with runtime.db.transaction() as session:
        for phone, language in session.execute(select(Member.phone, Member.language)):
            entry = Phone(phone, language)
            if phone.startswith("+2547240"):
                registered = max(registered, int(phone[-5:]) + 1)
            if phone.startswith("+2547220") or states.get(phone) in ("active", "arrears"):
                world.active.append(entry)
            elif phone.startswith("+2547221") or states.get(phone) in ("repaid", "rejected"):
                world.free.append(entry)
            elif states.get(phone) in ("fundraising", "review", "payout"):
                world.other.append(entry)
    if not world.active:
        raise SystemExit("--reuse-db: no seeded bench world in this database")
    REGISTRATIONS = itertools.count(registered)
    return world


def open_world(database_url: str, env: dict[str, str], *, reuse: bool,
               seed: int) -> tuple[Any, World]:
    """The bench's own database migrated and seeded (or as a previous run left it: `reuse`),
    Redis flushed; the runtime and the world's phones."""
    if not reuse:
        recreate_database(database_url)
    runtime = open_runtime(env)
    runtime.redis.flushdb()
    if reuse:
        world = world_in(runtime)
        reset_world(runtime)
    else:
        from gateway.migrate import upgrade

        upgrade(runtime.db.url)
        seeded = time.perf_counter()
        world = seed_world(runtime, random.Random(seed))
        print(f"seeded in {time.perf_counter() - seeded:.0f} s: ", end="")
    print(f"{len(world.active)} borrowers with running loans, {len(world.free)} free to apply, "
          f"{len(world.other)} with a loan in review, funding or payout", flush=True)
    return runtime, world


def reset_world(runtime: Any) -> dict[str, int]:
    """Put the world back between runs, through the services: as phones and officers would."""
    from sqlalchemy import select

    from lending.applications import cancel_loan
    from lending.models import PENDING_REVIEW, Loan, Member
    from payments.models import PENDING, REPAYMENT, REQUESTED, PaymentIntent
    from payments.settlement import settle_collection_failure

    done: Counter[str] = Counter()
    with runtime.db.transaction() as session:
        for loan in session.scalars(select(Loan).where(
                Loan.status == PENDING_REVIEW, Loan.application_key.like("ussd-%"))):
            cancel_loan(session, loan.id, actor="bench", reason="withdrawn by the borrower")
            done["applications withdrawn"] += 1
        for intent in session.scalars(select(PaymentIntent).where(
                PaymentIntent.kind == REPAYMENT,
                PaymentIntent.status.in_((PENDING, REQUESTED)))):
            settle_collection_failure(session, intent, cancelled=True, code=1032,
                                      desc="Request cancelled by user")
            done["prompts cancelled"] += 1
        for member in session.scalars(select(Member).where(Member.failed_pin_attempts > 0)):
            member.failed_pin_attempts, member.pin_locked_until = 0, None  # an officer's unlock
    runtime.redis.flushdb()
    return dict(done)


# --- the servers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """One gunicorn (gthread) on loopback; its log goes to a file."""

    def __init__(self, app: str, workers: int, threads: int, env: dict[str, str], log: Path,
                 *, gunicorn: str | None = None, chdir: Path = ROOT):
        """`gunicorn`: the executable (another venv's); by default the one beside this Python.
        `chdir`: where it runs and finds `gunicorn.conf.py` (the checkout's loads the project's
        settings module, which another venv cannot import)."""
        self.port = free_port()
        self.log = log
        gunicorn = gunicorn or shutil.which("gunicorn", path=str(Path(sys.executable).parent))
        command = [gunicorn or "gunicorn", app, "--chdir", str(chdir),
                   "--bind", f"127.0.0.1:{self.port}",
                   "--worker-class", "gthread", "--workers", str(workers),
                   "--threads", str(threads), "--keep-alive", "10", "--log-level", "warning"]
        self.handle = log.open("ab")
        self.process = subprocess.Popen(command, env={**os.environ, **env}, stdout=self.handle,
                                        stderr=subprocess.STDOUT, cwd=chdir)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {self.log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer within {timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.handle.close()


# --- where the CPU went: the server's workers, PostgreSQL, Redis, this process, the machine --


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float:
    """Seconds of CPU a process has used (user + system), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICK, sum(values[:8]) / TICK


@dataclass
class CpuUse:
    workers: float = 0.0
    postgres: float = 0.0
    redis: float = 0.0
    client: float = 0.0
    machine: float = 0.0  # CPU seconds used by everything on the machine
    capacity: float = 0.0  # CPU seconds the machine had


class CpuMeter:
    """CPU used during a run by each part; others' work on the machine is what is left."""

    def __init__(self, server: Server, runtime: Any, database: str) -> None:
        self.server, self.runtime, self.database = server, runtime, database

    def _postgres_pids(self) -> list[int]:
        from sqlalchemy import text

        with self.runtime.db.engine.connect() as connection:
            return [int(pid) for pid in connection.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> "
                "pg_backend_pid()"), {"name": self.database}).scalars()]

    def _redis(self) -> float:
        info = self.runtime.redis.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def sample(self) -> dict[str, Any]:
        busy, total = machine_cpu()
        return {"workers": {pid: process_cpu(pid) for pid in children(self.server.process.pid)},
                "postgres": {pid: process_cpu(pid) for pid in self._postgres_pids()},
                "redis": self._redis(), "client": time.process_time(), "busy": busy,
                "total": total}

    @staticmethod
    def between(before: dict[str, Any], after: dict[str, Any]) -> CpuUse:
        def grown(key: str) -> float:
            return sum(cpu - before[key].get(pid, 0.0) for pid, cpu in after[key].items())

        return CpuUse(workers=grown("workers"), postgres=grown("postgres"),
                      redis=after["redis"] - before["redis"],
                      client=after["client"] - before["client"],
                      machine=after["busy"] - before["busy"],
                      capacity=after["total"] - before["total"])


# --- a small HTTP/1.1 keep-alive client (cheap, so the load generator leaves CPU to the server)


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.close()
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> tuple[int, str]:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        for attempt in (1, 2):  # the server may have closed an idle keep-alive connection;
            try:                # the USSD request is idempotent, so sending it again is safe
                if self.reader is None or self.reader.at_eof():
                    await self._open()
                assert self.reader is not None and self.writer is not None
                self.writer.write(head + body)
                raw = await self.reader.readuntil(b"\r\n\r\n")
                status = int(raw[9:12])
                match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", raw)
                payload = await self.reader.readexactly(int(match.group(1)) if match else 0)
                if re.search(rb"(?i)\r\nconnection:\s*close", raw):
                    self.close()
                return status, payload.decode()
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


async def ussd_step(connection: Connection, session_id: str, phone: str,
                    text: str) -> tuple[int, str, float]:
    """One Africa's Talking USSD request: (status, screen, seconds); status 0 if it failed."""
    body = urlencode({"sessionId": session_id, "serviceCode": SERVICE_CODE, "phoneNumber": phone,
                      "networkCode": "63902", "text": text}).encode()
    began = time.perf_counter()
    try:
        status, screen = await connection.post("/ussd", body)
    except (ConnectionError, asyncio.IncompleteReadError, OSError):
        status, screen = 0, ""
    return status, screen, time.perf_counter() - began


# --- what people do on the phone ------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    answer: str | None  # None: the first request of a session (text "")
    expect: tuple[str, ...]  # any of these in the screen
    argon: bool = False  # the step checks or hashes a PIN


Journey = Generator[Step, str, None]
SENTINEL = "QZXQ"


class Texts:
    """What a screen must contain, in the borrower's language (first line's fixed words)."""

    def __init__(self) -> None:
        from menus.texts import translate

        self.translate = translate
        self.cache: dict[tuple[str, str], str] = {}

    def __call__(self, lang: str, msgid: str) -> str:
        key = (lang, msgid)
        if key not in self.cache:
            names = re.findall(r"{(\w+)", msgid)
            text = self.translate(lang, msgid, **{n: SENTINEL for n in names})
            parts = [p.strip() for p in text.split(SENTINEL) if p.strip()]
            self.cache[key] = parts[0].splitlines()[0] if parts else text
        return self.cache[key]


def journeys(t: Texts) -> dict[str, Callable[[Phone, random.Random], Journey]]:
    from menus.flows import account, loans, registration
    from menus.nodes import ENTER_PIN
    from menus.nodes import WRONG_PIN as WRONG_PIN_TEXT
    from menus.texts import MORE, reason

    def home(p: Phone) -> Generator[Step, str, str]:
        return (yield Step(None, (t(p.lang, "My balance"),)))

    def balance(p: Phone, rng: random.Random) -> Journey:
        yield from home(p)
        yield Step("1", (t(p.lang, ENTER_PIN),))
        if rng.random() < 0.1:  # a finger slips
            yield Step(WRONG_PIN, (t(p.lang, WRONG_PIN_TEXT),), argon=True)
        yield Step(PIN, (t(p.lang, loans.CREDIT_LIMIT),), argon=True)

    def statement(p: Phone, rng: random.Random) -> Journey:
        yield from home(p)
        yield Step("4", (t(p.lang, ENTER_PIN),))
        screen = yield Step(PIN, (t(p.lang, loans.STATEMENT_TITLE),
                                  t(p.lang, loans.NO_TRANSACTIONS)), argon=True)
        if t(p.lang, MORE) in screen and rng.random() < 0.5:
            yield Step("98", ("",))

    def repay(p: Phone, rng: random.Random) -> Journey:
        yield from home(p)
        yield Step("3", (t(p.lang, "Next installment"),))
        yield Step("1", (t(p.lang, ENTER_PIN),))
        yield Step(PIN, (t(p.lang, loans.CONFIRM_PAYMENT),), argon=True)
        yield Step("1", (t(p.lang, loans.PROMPT_SENT), t(p.lang, reason("payment_pending"))))

    def help_(p: Phone, rng: random.Random) -> Journey:
        yield from home(p)
        yield Step("6", (t(p.lang, account.HELP_TEXT),))

    def apply_refused(p: Phone, rng: random.Random) -> Journey:
        yield from home(p)
        yield Step("2", (t(p.lang, reason("loan_active")),))

    def to_disclosure(p: Phone, rng: random.Random) -> Generator[Step, str, None]:
        yield from home(p)
        yield Step("2", (t(p.lang, "Choose a loan"),))
        yield Step("1", (t(p.lang, loans.AMOUNT_PROMPT),))
        yield Step(rng.choice(("1000", "1500", "2000")), (t(p.lang, "How many payments?"),))
        yield Step(str(rng.randint(1, 3)), (t(p.lang, "What is the loan for?"),))
        yield Step(str(rng.randint(1, 6)), (t(p.lang, loans.DISCLOSURE),))

    def apply_decline(p: Phone, rng: random.Random) -> Journey:
        yield from to_disclosure(p, rng)
        if rng.random() < 0.3:  # back to the purpose, another one, the disclosure again
            yield Step("0", (t(p.lang, "What is the loan for?"),))
            yield Step(str(rng.randint(1, 6)), (t(p.lang, loans.DISCLOSURE),))
        yield Step("2", (t(p.lang, "You declined. No loan was requested."),))

    def apply_accept(p: Phone, rng: random.Random) -> Journey:
        yield from to_disclosure(p, rng)
        yield Step("1", (t(p.lang, ENTER_PIN),))
        yield Step(PIN, (t(p.lang, loans.APPLIED),), argon=True)

    def settings(p: Phone, rng: random.Random) -> Journey:
        yield from home(p)
        yield Step("5", (t(p.lang, ENTER_PIN),))
        yield Step(PIN, (t(p.lang, "My account"),), argon=True)
        yield Step("3", (t(p.lang, account.REMINDERS_NOW),))
        yield Step("00", (t(p.lang, "My balance"),))

    def register(p: Phone, rng: random.Random) -> Journey:
        yield Step(None, (t("en", "Register"),))
        yield Step("1", (t("en", "Enter your full name"),))
        yield Step(f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                   (t("en", "Enter your national ID number"),))
        yield Step(f"6{p.number[-5:]}", (t("en", "Choose a 4-digit PIN"),))
        yield Step("2580", (t("en", "Enter the same PIN again"),))
        yield Step("2580", (t("en", "Choose your language"),))
        lang = "sw" if rng.random() < 0.2 else "en"
        yield Step("2" if lang == "sw" else "1", (t(lang, registration.CONSENT),))
        yield Step("1", (t(lang, registration.REGISTERED),), argon=True)  # hashes the PIN

    return {"balance": balance, "statement": statement, "repay": repay, "help": help_,
            "apply_refused": apply_refused, "apply_decline": apply_decline,
            "apply_accept": apply_accept, "settings": settings, "register": register}


# journey: (weight in 100, the pools its phones come from, the pool they go to after an END)
MIX: dict[str, tuple[int, str]] = {
    "balance": (30, "AREO"), "statement": (12, "AREO"), "repay": (14, "A"), "help": (8, "AREO"),
    "apply_refused": (3, "AR"), "apply_decline": (9, "E"), "apply_accept": (6, "E"),
    "settings": (8, "AREO"), "register": (10, ""),
}
AFTER = {"repay": "R", "apply_accept": "O"}  # repaid this run / now has an application


class Pools:
    """Borrowers' phones by what they can do; a phone is in one session at a time."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.rng = rng
        self.free: dict[str, list[Phone]] = {"A": list(world.active), "R": [],
                                             "E": list(world.free), "O": list(world.other)}

    def take(self, pools: str) -> tuple[str, Phone] | None:
        sizes = [(name, len(self.free[name])) for name in pools]
        total = sum(size for _, size in sizes)
        if total == 0:
            return None
        pick = self.rng.randrange(total)
        for name, size in sizes:
            if pick < size:
                phones = self.free[name]
                index = self.rng.randrange(size)
                phones[index], phones[-1] = phones[-1], phones[index]
                return name, phones.pop()
            pick -= size
        return None

    def give(self, pool: str, phone: Phone) -> None:
        self.free[pool].append(phone)

    @staticmethod
    def new_phone() -> Phone:
        return Phone(f"+2547240{next(REGISTRATIONS):05d}", "en")


# --- running a load ---------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    argon: list[float] = field(default_factory=list)
    other: list[float] = field(default_factory=list)
    errors: int = 0
    unexpected: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    journeys: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0
    cpu: CpuUse | None = None

    @property
    def requests(self) -> int:
        return len(self.argon) + len(self.other)

    @property
    def throughput(self) -> float:
        return self.requests / self.wall if self.wall else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


async def run_load(name: str, port: int, world: World, *, users: int, seconds: float,
                   think: tuple[float, float] | None, seed: int, check: bool,
                   texts: Texts) -> Result:
    """`users` people, each playing one session after another until `seconds` have passed."""
    rng = random.Random(seed)
    pools = Pools(world, rng)
    plays = journeys(texts)
    names = list(MIX)
    weights = [MIX[n][0] for n in names]
    result = Result(name)
    started = time.perf_counter()
    deadline = started + seconds

    async def person(uid: int) -> None:
        mine = random.Random(seed * 1000 + uid)
        connection = Connection(port)
        if think:
            await asyncio.sleep(mine.uniform(0, think[1]))
        try:
            while time.perf_counter() < deadline:
                kind = mine.choices(names, weights)[0]
                taken = pools.take(MIX[kind][1]) if MIX[kind][1] else ("", pools.new_phone())
                if taken is None:
                    kind, taken = "balance", pools.take("AREO")
                    if taken is None:
                        kind, taken = "register", ("", pools.new_phone())
                pool, phone = taken
                result.journeys[kind] += 1
                ended_well = await session(kind, phone, mine, connection)
                if pool:
                    pools.give(AFTER.get(kind, pool) if ended_well else pool, phone)
                if think:
                    await asyncio.sleep(mine.uniform(*REDIAL))
        finally:
            connection.close()

    async def session(kind: str, phone: Phone, mine: random.Random,
                      connection: Connection) -> bool:
        session_id = f"ATUid_{uuid.uuid4().hex}"
        play = plays[kind](phone, mine)
        answers: list[str] = []
        step = next(play)
        while True:
            if step.answer is not None:
                answers.append(step.answer)
            status, screen, took = await ussd_step(connection, session_id, phone.number,
                                                   "*".join(answers))
            (result.argon if step.argon else result.other).append(took)
            if status != 200 or screen[:4] not in ("CON ", "END "):
                result.errors += 1
                return False
            if check and not any(marker in screen for marker in step.expect):
                where = f"{kind} step {len(answers)}"
                result.unexpected[where] += 1
                if len(result.samples) < 6:
                    result.samples.append(f"{where} [{phone.lang}]: {screen[:100]!r}")
                return False
            if think:
                await asyncio.sleep(mine.uniform(*think))
            if time.perf_counter() >= deadline:
                return False
            try:
                step = play.send(screen)
            except StopIteration:
                return True

    await asyncio.gather(*(person(uid) for uid in range(users)))
    result.wall = time.perf_counter() - started
    return result


def load(name: str, port: int, world: World, *, texts: Texts, **kwargs: Any) -> Result:
    return asyncio.run(run_load(name, port, world, texts=texts, **kwargs))


# --- reporting -------------------------------------------------------------------------------


def rows(result: Result) -> list[str]:
    out = []
    for label, values in (("all", result.argon + result.other), ("PIN", result.argon),
                          ("other", result.other)):
        if not values:
            continue
        ms = [v * 1000 for v in values]
        rate = len(values) / result.wall if result.wall else 0
        out.append(f"{result.name:<26} {label:<13} {len(values):>7} {rate:>8.1f} "
                   f"{percentile(ms, 50):>7.1f} {percentile(ms, 95):>7.1f} "
                   f"{percentile(ms, 99):>7.1f} {max(ms):>7.1f}")
    return out


HEADER = (f"{'run':<26} {'requests':<13} {'count':>7} {'req/s':>8} {'p50':>7} {'p95':>7} "
          f"{'p99':>7} {'max':>7}   (ms)")


def print_result(result: Result) -> None:
    for line in rows(result):
        print(line, flush=True)
    problems = f"errors {result.errors}, unexpected screens {sum(result.unexpected.values())}"
    print(f"{'':<26} {problems}; sessions {sum(result.journeys.values())}", flush=True)
    for sample in result.samples:
        print(f"{'':<28}{sample}")
    if result.cpu is not None:
        print(f"{'':<26} {cpu_line(result)}", flush=True)


def cpu_line(result: Result) -> str:
    """CPU per request by part, and how busy the machine was (and with what else)."""
    use, n = result.cpu, max(result.requests, 1)
    assert use is not None
    ours = use.workers + use.postgres + use.redis + use.client
    cores = use.capacity / result.wall if result.wall else 0
    return (f"CPU ms/request: gunicorn {use.workers / n * 1000:.2f}, postgres "
            f"{use.postgres / n * 1000:.2f}, redis {use.redis / n * 1000:.2f}, load generator "
            f"{use.client / n * 1000:.2f}; machine {use.machine / use.capacity:.0%} busy of "
            f"{cores:.0f} CPUs, {max(use.machine - ours, 0) / use.capacity:.0%} by other work"
            f"\n{'':<26} at {ours / n * 1000:.2f} CPU ms/request in all, these {cores:.0f} CPUs "
            f"alone would serve ~{dedicated(result):.0f} req/s")


def dedicated(result: Result) -> float:
    """Requests per second if the machine ran only this bench: its CPUs over our CPU cost."""
    use = result.cpu
    if use is None or not result.requests or not result.wall:
        return float("nan")
    ours = use.workers + use.postgres + use.redis + use.client
    return result.requests / ours * (use.capacity / result.wall) if ours else float("nan")


# --- main ------------------------------------------------------------------------------------


def revision() -> str:
    """The commit measured (and whether the tree differs from it), when ROOT is a checkout."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                "core", "gateway", "menus", "lending", "payments", "messaging"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"{head}{' with uncommitted changes' if dirty else ''}"


def pin_check_us() -> float:
    """What one PIN verification costs here, now (keyed HMAC-SHA-256, `lending.pins`)."""
    from lending import pins

    stored = pins.hash_pin("1357")
    began = time.perf_counter()
    for _ in range(1000):
        pins.pin_matches(stored, "1357")
    return (time.perf_counter() - began) * 1000


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        workers, _, threads = part.strip().partition("x")
        sizes.append((int(workers), int(threads)))
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100, help="concurrent sessions")
    parser.add_argument("--sizes", default="2x4,2x8,4x4",
                        help="gunicorn gthread sizings to try, WORKERSxTHREADS,...")
    parser.add_argument("--closed-seconds", type=float, default=10.0)
    parser.add_argument("--realistic-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--journeys", default=",".join(MIX),
                        help="the journeys to play (their weights kept), e.g. help for a "
                             "menu path without a PIN (dial, 6)")
    parser.add_argument("--reuse-db", action="store_true",
                        help="keep the database a previous run seeded (for quicker iterations)")
    args = parser.parse_args(argv)
    unknown = set(args.journeys.split(",")) - set(MIX)
    if unknown:
        parser.error(f"unknown journeys {', '.join(sorted(unknown))}; known: {', '.join(MIX)}")
    for name in set(MIX) - set(args.journeys.split(",")):
        del MIX[name]

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    database = urlsplit(database_url).path.lstrip("/")
    instance = Path(tempfile.mkdtemp(prefix="mkopo-ussd-bench-"))
    env = server_env(database_url, redis_url, instance)
    began = time.perf_counter()

    print(f"code: {revision()}; machine: {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; PostgreSQL {database_url.rsplit('@', 1)[-1]}, "
          f"Redis {redis_url}", flush=True)
    runtime, world = open_world(database_url, env, reuse=args.reuse_db, seed=args.seed)
    print(f"PIN check alone on this machine now: {pin_check_us():.1f} us (mean of 1000)",
          flush=True)
    texts = Texts()
    servers: list[Server] = []

    def start(app: str, workers: int, threads: int, log: str) -> Server:
        server = Server(app, workers, threads, env, instance / log)
        servers.append(server)
        server.wait_ready()
        load("warm-up", server.port, world, users=args.users, seconds=2, think=None,
             seed=args.seed, check=False, texts=texts)
        return server

    def measure(name: str, server: Server, seconds: float, think: tuple[float, float] | None,
                check: bool) -> Result:
        reset_world(runtime)
        meter = CpuMeter(server, runtime, database)
        before = meter.sample()
        result = load(name, server.port, world, users=args.users, seconds=seconds,
                      think=think, seed=args.seed, check=check, texts=texts)
        result.cpu = meter.between(before, meter.sample())
        print_result(result)
        return result

    def stop_all() -> None:
        while servers:
            servers.pop().stop()

    closed: list[tuple[Result, Result]] = []
    realistic: Result | None = None
    try:
        for workers, threads in parse_sizes(args.sizes):
            tag = f"{workers}x{threads}"
            print(f"\ngunicorn gthread {tag}, closed loop: {args.users} sessions, no think time, "
                  f"{args.closed_seconds:.0f} s each; load average {os.getloadavg()[0]:.1f}")
            print(HEADER)
            bare = start("bench.ussd_load:bare_app()", workers, threads, "bare.log")
            b = measure(f"bare closed {tag}", bare, args.closed_seconds, None, check=False)
            stop_all()
            ussd = start("gateway:create_app()", workers, threads, "ussd.log")
            u = measure(f"ussd closed {tag}", ussd, args.closed_seconds, None, check=True)
            stop_all()
            print(f"{'':<26} ussd/bare throughput {u.throughput / b.throughput:.0%} measured, "
                  f"{dedicated(u) / dedicated(b):.0%} by CPU cost", flush=True)
            closed.append((u, b))

        best = max(range(len(closed)), key=lambda i: closed[i][0].throughput)
        workers, threads = parse_sizes(args.sizes)[best]
        tag = f"{workers}x{threads}"
        print(f"\nrealistic, gthread {tag} (the best above): {args.users} concurrent sessions, "
              f"{THINK[0]:.0f}-{THINK[1]:.0f} s think time, {args.realistic_seconds:.0f} s; "
              f"load average {os.getloadavg()[0]:.1f}")
        print(HEADER)
        ussd = start("gateway:create_app()", workers, threads, "ussd.log")
        realistic = measure(f"ussd realistic {tag}", ussd, args.realistic_seconds, THINK,
                            check=True)
        stop_all()
    finally:
        stop_all()
        reset_world(runtime)

    print("\nsummary")
    print(HEADER)
    for u, b in closed:
        for line in rows(b)[:1] + rows(u):
            print(line)
        print(f"{'':<26} ussd/bare throughput {u.throughput / b.throughput:.0%} measured, "
              f"{dedicated(u) / dedicated(b):.0%} by CPU cost (~{dedicated(u):.0f} vs "
              f"~{dedicated(b):.0f} req/s on these CPUs alone)")
    if realistic is not None:
        for line in rows(realistic):
            print(line)
    logged = (instance / "ussd.log").read_text(errors="replace").splitlines()
    errors = [line for line in logged if '"level": "ERROR"' in line or "Traceback" in line]
    print(f"\nserver log {instance / 'ussd.log'}: {len(logged)} lines, {len(errors)} errors")
    for line in errors[:5]:
        print("  " + line[:300])
    print(f"bench took {time.perf_counter() - began:.0f} s; load average now "
          f"{os.getloadavg()[0]:.1f}")
    runtime.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
