"""The messaging migration builds exactly the tables the models describe; wiring finds us."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db import Base
from gateway.periodic import PERIODIC
from gateway.wiring import import_models
from messaging.reminders import run_reminders


def test_the_migration_matches_the_models(db_connection) -> None:
    import_models()
    context = MigrationContext.configure(db_connection, opts={"compare_type": True})
    ours = [diff for diff in compare_metadata(context, Base.metadata)
            if "sms_" in repr(diff)]
    assert ours == []


def test_the_scheduler_finds_the_reminder_job() -> None:
    assert run_reminders in [entry.func for entry in PERIODIC]
