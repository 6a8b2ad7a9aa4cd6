"""An idle system is quiet: rq's per-job and per-tick lines are DEBUG, failures still show."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from gateway.gunicorn_conf import is_routine_poll
from gateway.logs import configure_logging


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def lines() -> Iterator[Lines]:
    configure_logging("INFO")
    handler, root = Lines(), logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("rq.worker", "rq.cron")}
    for name in levels:  # as `worker.work(logging_level="INFO")` and rq's CronScheduler leave it
        logging.getLogger(name).setLevel(logging.INFO)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def one_idle_minute() -> None:
    """What rq logs in a minute of nothing: four outbox sweeps and one payments sweep."""
    worker, cron = logging.getLogger("rq.worker"), logging.getLogger("rq.cron")
    for job in ("core.outbox.sweep()",) * 4 + ("payments.sweeps.run_sweeps()",):
        cron.info(f"Enqueued job {job.split('.')[-1][:-2]} to queue default")
        worker.info("Worker %s: %s: %s (%s)", "w1", "default", job, "id-1")
        worker.info("Successfully completed %s job in %ss on worker %s", job, "0:00:00.002", "w1")
        worker.info("Worker %s: %s: %s (%s)", "w1", "default", "Job OK", "id-1")
        worker.info("Worker %s: job %s result is kept for %s seconds", "w1", "id-1", 500)
    worker.info("Worker %s: cleaning registries for queue: %s", "w1", "default")
    logging.getLogger("rq.scheduler").info("Acquired scheduler lock for %s", "default")


def test_a_minute_of_idle_polling_writes_nothing(lines) -> None:
    one_idle_minute()
    assert [r.getMessage() for r in lines.records] == []


def test_the_routine_lines_come_back_at_debug_when_asked_for(lines) -> None:
    logging.getLogger("rq.worker").setLevel(logging.DEBUG)
    one_idle_minute()
    worker_lines = [r for r in lines.records if r.name == "rq.worker"]
    assert len(worker_lines) == 21 and {r.levelname for r in worker_lines} == {"DEBUG"}


def test_what_matters_still_shows(lines) -> None:
    worker = logging.getLogger("rq.worker")
    worker.info("Worker %s: started with PID %d, version %s", "w1", 1, "2")
    worker.error("Worker %s: job %s failed", "w1", "id-2")
    worker.warning("Worker %s: %s: %s (%s)", "w1", "default", "odd", "id-3")
    assert [r.levelname for r in lines.records] == ["INFO", "ERROR", "WARNING"]


def test_the_migrations_plugin_chatter_is_quiet() -> None:
    configure_logging("INFO")
    assert not logging.getLogger("alembic.runtime.plugins").isEnabledFor(logging.INFO)
    assert logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)


@pytest.mark.parametrize(("method", "path", "status", "quiet"), [
    ("GET", "/simulator/api/inbox", 200, True),
    ("GET", "/simulator/api/timeline", 200, True),
    ("GET", "/simulator/api/prompts", 400, False),  # a broken page is worth a line
    ("POST", "/simulator/api/prompts/p1", 200, False),  # someone answered a prompt
    ("GET", "/ops/", 200, False),
    ("POST", "/ussd", 200, False),
])
def test_only_the_simulators_answered_polls_leave_the_access_log(method, path, status,
                                                                 quiet) -> None:
    assert is_routine_poll(method, path, status) is quiet
