"""The recon migration and the models agree, so autogenerate would find nothing to do."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db import Base
from reconciliation import resolutions, statements
from reconciliation import run as reconciliation

OURS = {"statement_imports", "statement_lines", "recon_items", "recon_runs", "recon_matches",
        "recon_actions"}


def test_the_migration_builds_what_the_models_describe(session) -> None:
    assert reconciliation and resolutions and statements  # the models are registered
    context = MigrationContext.configure(session.connection(),
                                         opts={"compare_type": False})
    differences = [diff for diff in compare_metadata(context, Base.metadata)
                   if _table_of(diff) in OURS]
    assert differences == []


def _table_of(diff: object) -> str | None:
    if isinstance(diff, list):  # column modifications come as lists of tuples
        return _table_of(diff[0])
    assert isinstance(diff, tuple)
    for part in diff[1:]:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return str(table.name)
        if isinstance(part, str) and part in OURS:
            return part
        if name in OURS:
            return str(name)
    return None
