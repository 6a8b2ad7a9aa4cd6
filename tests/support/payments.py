"""Payments fixtures: the simulator wired to the app over HTTP, members, loans, helpers."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import ledger
from core.outbox import OutboxItem
from lending import members
from lending.applications import apply_for_loan, approve_loan
from lending.catalog import create_product
from lending.funding import fund_loan
from lending.models import FieldPartner, Loan, Member
from lending.protection import set_credit_limit
from payments import intents
from payments.models import CallbackInbox, PaymentIntent, ReconciliationBreak
from payments.providers.simulator import SimulatorProvider

from support.simulated_mpesa import assert_books_sound, simulating

_serial = itertools.count(1)

# KES 1,000 over 4 weeks at 52% flat, no fee: 4 x KES 260.
PRODUCT: dict[str, Any] = {
    "name": "Biashara weekly", "min_amount": 50_000, "max_amount": 20_000_000,
    "terms": [4, 8], "frequency": "weekly", "interest_method": "flat", "interest_rate": "52",
}


class Books:
    """Reads the payments tables and checks the ledger against the simulator's record."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def intent(self, intent_id: int) -> PaymentIntent:
        self.session.expire_all()
        found = self.session.get(PaymentIntent, intent_id)
        assert found is not None
        return found

    def breaks(self, type_: str | None = None) -> list[ReconciliationBreak]:
        self.session.expire_all()
        query = select(ReconciliationBreak).order_by(ReconciliationBreak.id)
        if type_ is not None:
            query = query.where(ReconciliationBreak.type == type_)
        return list(self.session.scalars(query))

    def inbox(self, external_id: str | None = None) -> list[CallbackInbox]:
        """Stored callbacks, oldest first (only those with `external_id` if given)."""
        self.session.expire_all()
        query = select(CallbackInbox).order_by(CallbackInbox.id)
        if external_id is not None:
            query = query.where(CallbackInbox.external_id == external_id)
        return list(self.session.scalars(query))

    def balance(self, spec: ledger.AccountSpec) -> int:
        return ledger.balance(self.session, spec)

    def entries(self) -> int:
        return int(self.session.scalar(select(func.count(ledger.JournalEntry.id))) or 0)

    def outbox_failed(self) -> list[OutboxItem]:
        return list(self.session.scalars(select(OutboxItem).where(OutboxItem.status == "failed")))

    def assert_sound(self, *, against_simulator: bool = True) -> None:
        assert_books_sound(self.session, against_simulator=against_simulator)


@pytest.fixture
def books(session: Session) -> Books:
    return Books(session)


class Loans:
    """Builds members and loans through the real services, money moving through the simulator."""

    def __init__(self, session: Session, worker: Any) -> None:
        self.session, self.worker = session, worker

    def member(self, *, limit: int = 2_000_000) -> Member:
        n = next(_serial)
        member = members.register_member(
            self.session, phone=f"+25471{n:07d}", first_name=f"Amina{n}", national_id=f"ID{n}",
            pin="4821", language="en", consent=True)
        partner = FieldPartner(name=f"Partner {n}", region="Kisumu", risk_rating=2)
        self.session.add(partner)
        self.session.flush()
        members.verify_member(self.session, member.id, partner.id, "officer")
        set_credit_limit(self.session, member.id, limit, actor="test", reason="setup")
        return member

    def lender(self, wallet: int) -> Member:
        """A lender whose wallet was topped up by a real STK deposit."""
        member = self.member()
        members.become_lender(self.session, member.id)
        intents.request_deposit(self.session, member_id=member.id, phone=member.phone,
                                amount=wallet, idempotency_key=f"seed-deposit-{member.id}")
        self.session.commit()
        self.worker.run()
        return member

    def funded(self, amount: int = 100_000, *, commit: bool = True) -> Loan:
        """A fully funded loan; its "loan.disburse" outbox item is queued on commit."""
        product = create_product(self.session, {**PRODUCT, "code": f"P{next(_serial)}"})
        borrower = self.member(limit=max(amount, 2_000_000))
        loan = apply_for_loan(self.session, member_id=borrower.id, product_code=product.code,
                              amount=amount, term=4, purpose="stock for the kiosk",
                              idempotency_key=f"app-{next(_serial)}")
        approve_loan(self.session, loan.id, actor="officer")
        lender = self.lender(wallet=amount)
        fund_loan(self.session, loan_id=loan.id, lender_id=lender.id,
                  shares=amount // product.share_unit, idempotency_key=f"fund-{next(_serial)}")
        if commit:
            self.session.commit()
        return loan

    def active(self, amount: int = 100_000) -> Loan:
        """A loan paid out to its borrower through the simulator's B2C."""
        loan = self.funded(amount)
        self.worker.run()
        self.session.refresh(loan)
        assert loan.status == "active", loan.status
        return loan


@pytest.fixture
def loans(session: Session, worker: Any, sim: SimulatorProvider, clock: Any) -> Loans:
    return Loans(session, worker)


# --- real commits and real processes (fault tests) ------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def committed_session(committed_db: Any) -> Iterator[Session]:
    with committed_db.session() as s:
        yield s


@pytest.fixture
def committed_books(committed_session: Session) -> Books:
    return Books(committed_session)


@pytest.fixture
def committed_loans(committed_session: Session, committed_app: Any, worker: Any,
                    runtime: Any, redis: Any) -> Iterator[Loans]:
    """The `Loans` builder committing for real, the simulator posting into the app in-process."""
    with simulating(committed_app, runtime.settings):
        yield Loans(committed_session, worker)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Processes:
    """Starts gunicorn and rq workers as subprocesses on this test run's database and Redis."""

    def __init__(self, runtime: Any, base_url: str) -> None:
        self.runtime, self.base_url = runtime, base_url
        self.started: list[subprocess.Popen[bytes]] = []

    def env(self, **extra: str) -> dict[str, str]:
        settings = self.runtime.settings
        env = dict(os.environ)
        env.update(
            MKOPO_ENV="test", DATABASE_URL=settings.database_url,
            REDIS_URL=self.runtime.redis_url, CALLBACK_TOKEN=settings.callback_token,
            SECRET_KEY="fault-tests", PIN_PEPPER=settings.pin_pepper,
            MKOPO_INSTANCE_PATH=str(settings.instance_path), PUBLIC_BASE_URL=self.base_url,
            MOBILE_MONEY_PROVIDER="simulator", LOG_LEVEL="WARNING", **extra)
        return env

    def _spawn(self, args: list[str], **extra: str) -> subprocess.Popen[bytes]:
        # Own process group: rq's scheduler and gunicorn's workers are children that must
        # go down with their parent, or they outlive the test on this run's Redis.
        process = subprocess.Popen(args, cwd=ROOT, env=self.env(**extra),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        self.started.append(process)
        return process

    def web(self, workers: int = 2) -> subprocess.Popen[bytes]:
        port = self.base_url.rsplit(":", 1)[1]
        process = self._spawn([sys.executable, "-m", "gunicorn", "gateway:create_app()",
                               "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                               "--threads", "8", "--backlog", "256", "--preload"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return process
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def worker(self, **extra: str) -> subprocess.Popen[bytes]:
        return self._spawn([sys.executable, "-m", "flask", "--app", "gateway", "worker"], **extra)

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process and its children: no clean-up, like a crashed machine."""
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=10)

    @staticmethod
    def stop(process: subprocess.Popen[bytes]) -> None:
        """SIGTERM the group, then SIGKILL it if it does not go within ten seconds."""
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        _signal_group(process, signal.SIGKILL)  # children left behind by a clean exit

    def stop_all(self) -> None:
        for process in self.started:
            self.stop(process)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


@pytest.fixture
def processes(runtime: Any, committed_db: Any) -> Iterator[Processes]:
    """Real processes; the test process's own simulator posts to the live server too."""
    base_url = f"http://127.0.0.1:{free_port()}"
    original = runtime.settings
    runtime.settings = original.replace(public_base_url=base_url)
    procs = Processes(runtime, base_url)
    try:
        yield procs
    finally:
        procs.stop_all()
        runtime.settings = original


def _wait_until(predicate: Any, timeout: float = 30.0, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


@pytest.fixture
def wait_until() -> Any:
    """Poll until `predicate()` is true; fail the test after `timeout` seconds."""
    return _wait_until
