"""One break per money fact, whichever path finds it first (#13.9).

The callback processor (brought back by the sweeper), the sweeper's last status
query and `flask reconcile` can each notice the same problem; an operator must see
one open break, and a later finder only adds what it knew.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import select

import ledger
from core.clock import utcnow
from ledger import SUSPENSE
from payments.breaks import callback_subject, intent_subject, record_break
from payments.config import config as payments_config
from payments.models import (
    CALLBACK_WITHOUT_INTENT,
    INTENT_WITHOUT_CALLBACK,
    OPEN,
    STALE_PENDING,
    CallbackInbox,
    ReconciliationBreak,
)
from payments.sweeps import query_overdue_intents, run_sweeps

from support.races import race
from support.recon_world import World

TOKEN = "test-callback-token"
ORPHAN_CHECKOUT = "ws_CO_28112026091530123711000101"  # the fixture's; no intent has it
MIGRATION = (Path(__file__).resolve().parents[3] / "migrations" / "versions"
             / "0510_payments_break_facts.py")


def open_breaks(session: Any) -> list[ReconciliationBreak]:
    session.expire_all()
    return list(session.scalars(select(ReconciliationBreak).where(
        ReconciliationBreak.status == OPEN).order_by(ReconciliationBreak.id)))


def reconcile_from_the_cli(runner: Any) -> dict[str, Any]:
    result = runner.invoke(args=["reconcile", "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def post_orphan_stk(client: Any, fixture_payload: Any) -> None:
    response = client.post(f"/mpesa/{TOKEN}/stk",
                           data=json.dumps(fixture_payload("daraja_stk_callback_success.json")),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200


def test_an_orphan_the_sweeper_flagged_is_not_flagged_again_by_reconcile(
    client, runner, session, worker, clock, fixture_payload
) -> None:
    post_orphan_stk(client, fixture_payload)
    worker.run()  # waits for its intent
    clock.advance(minutes=16)
    assert run_sweeps()["callbacks"] == 1
    worker.run()
    [flagged] = open_breaks(session)
    assert flagged.type == CALLBACK_WITHOUT_INTENT and flagged.journal_entry_id is not None

    figures = reconcile_from_the_cli(runner)
    assert figures["breaks"][CALLBACK_WITHOUT_INTENT] == 0
    assert [b.id for b in open_breaks(session)] == [flagged.id]
    assert ledger.balance(session, SUSPENSE) == 45_000
    assert ledger.trial_balance(session).balanced


def test_an_orphan_reconcile_flagged_is_not_flagged_again_by_processing(
    client, runner, session, worker, clock, fixture_payload, redis
) -> None:
    post_orphan_stk(client, fixture_payload)
    redis.flushdb()  # its processing job is lost: only reconcile sees it for now
    clock.advance(minutes=16)
    figures = reconcile_from_the_cli(runner)
    assert figures["breaks"][CALLBACK_WITHOUT_INTENT] == 1
    [flagged] = open_breaks(session)
    assert flagged.journal_entry_id is None

    assert run_sweeps()["callbacks"] == 1
    worker.run()  # the processor parks the money in suspense and says so on the same break
    [after] = open_breaks(session)
    assert after.id == flagged.id and after.type == CALLBACK_WITHOUT_INTENT
    assert after.journal_entry_id is not None and after.receipt == "TKS8A1B2C3"
    assert ledger.balance(session, SUSPENSE) == 45_000
    assert [row.status for row in session.scalars(select(CallbackInbox))] == ["break"]


def an_overdue_intent(session: Any) -> Any:
    """A push sent long ago that never got an answer, every status query spent."""
    intent = World(session).intent(10_000, status="requested", checkout="ws_CO_silent",
                                   at=utcnow() - timedelta(hours=3))
    intent.status_queries = payments_config().max_status_queries
    session.flush()
    return intent


def test_an_intent_the_sweeper_gave_up_on_is_one_break_after_reconcile(
    runner, session, clock
) -> None:
    intent = an_overdue_intent(session)
    query_overdue_intents()
    [given_up] = open_breaks(session)
    assert (given_up.type, given_up.intent_id) == (STALE_PENDING, intent.id)
    figures = reconcile_from_the_cli(runner)
    assert figures["breaks"][INTENT_WITHOUT_CALLBACK] == 0
    assert [b.id for b in open_breaks(session)] == [given_up.id]


def test_an_intent_reconcile_flagged_is_one_break_after_the_sweeper_gives_up(
    runner, session, clock
) -> None:
    intent = an_overdue_intent(session)
    assert reconcile_from_the_cli(runner)["breaks"][INTENT_WITHOUT_CALLBACK] == 1
    query_overdue_intents()
    [only] = open_breaks(session)
    assert (only.type, only.intent_id) == (INTENT_WITHOUT_CALLBACK, intent.id)
    session.refresh(intent)
    assert intent.status == "unknown"  # the sweeper still did its part


def test_the_same_fact_recorded_many_times_is_one_break(session) -> None:
    first = record_break(session, STALE_PENDING, intent_subject(5), amount=100)
    again = record_break(session, INTENT_WITHOUT_CALLBACK, intent_subject(5), loan_id=77)
    assert again.id == first.id and again.type == STALE_PENDING
    assert (again.amount, again.loan_id) == (100, 77)  # the second finder filled a gap
    other = record_break(session, STALE_PENDING, intent_subject(6))
    assert other.id != first.id
    assert len(open_breaks(session)) == 2


# --- the migration merges breaks opened twice before ------------------------------------


def old_break(session: Any, type_: str, key: str, **fields: Any) -> ReconciliationBreak:
    item = ReconciliationBreak(type=type_, status=fields.pop("status", OPEN), dedupe_key=key,
                               currency="KES", details={}, created_at=utcnow(), **fields)
    session.add(item)
    session.flush()
    return item


def run_migration(session: Any) -> None:
    spec = importlib.util.spec_from_file_location("break_facts", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = MigrationContext.configure(session.connection())
    with Operations.context(context):
        module.upgrade()
    session.expire_all()


def test_the_migration_merges_breaks_opened_twice_for_one_fact(session, clock) -> None:
    inbox = CallbackInbox(provider="mpesa", kind="stk", external_id="ws_CO_old", raw="{}",
                          received_at=utcnow(), status="break", attempts=1)
    session.add(inbox)
    session.flush()
    by_processing = old_break(session, CALLBACK_WITHOUT_INTENT,
                              "callback_without_intent:stk:ws_CO_old", inbox_id=inbox.id,
                              amount=45_000, receipt="TKSOLD0001")
    by_reconcile = old_break(session, CALLBACK_WITHOUT_INTENT,
                             f"callback_without_intent:inbox:{inbox.id}", inbox_id=inbox.id)
    intent = World(session).intent(10_000, status="unknown", checkout="ws_CO_old2")
    stale = old_break(session, STALE_PENDING, f"stale_pending:intent:{intent.id}",
                      intent_id=intent.id, status="resolved", resolution="asked M-Pesa")
    missing = old_break(session, INTENT_WITHOUT_CALLBACK,
                        f"intent_without_callback:intent:{intent.id}", intent_id=intent.id,
                        loan_id=4)

    run_migration(session)

    assert [b.id for b in open_breaks(session)] == [by_processing.id]
    kept = session.get(ReconciliationBreak, by_processing.id)
    assert kept.dedupe_key == f"callback:{callback_subject(inbox.id)}"
    merged = session.get(ReconciliationBreak, by_reconcile.id)
    assert merged.status == "dismissed" and f"break {by_processing.id}" in merged.resolution
    decided = session.get(ReconciliationBreak, stale.id)  # an operator's decision wins
    assert (decided.status, decided.dedupe_key, decided.loan_id) == (
        "resolved", f"unsettled:intent:{intent.id}", 4)
    assert session.get(ReconciliationBreak, missing.id).status == "dismissed"
    # and from now on, a finder of either fact meets the merged break
    assert record_break(session, CALLBACK_WITHOUT_INTENT,
                        callback_subject(inbox.id)).id == by_processing.id
    assert record_break(session, INTENT_WITHOUT_CALLBACK,
                        intent_subject(intent.id)).id == stale.id


# --- concurrent finders (PostgreSQL: real transactions racing) ---------------------------


@pytest.mark.postgres
def test_concurrent_finders_of_one_orphan_open_one_break(committed_db, clock) -> None:
    from core import runtime
    from reconciliation.config import ReconConfig
    from reconciliation.run import reconcile

    with committed_db.transaction() as session:
        inbox = CallbackInbox(provider="mpesa", kind="b2c_result", external_id="nobody-1",
                              raw="{}", received_at=utcnow() - timedelta(hours=1),
                              status="received", attempts=0)
        session.add(inbox)
        session.flush()
        inbox_id = inbox.id

    def by_processing() -> None:
        with runtime.current().db.transaction() as s:
            record_break(s, CALLBACK_WITHOUT_INTENT, callback_subject(inbox_id),
                         inbox_id=inbox_id)

    def by_reconcile() -> None:
        with runtime.current().db.transaction() as s:
            reconcile(s, config=ReconConfig(), now=utcnow())

    results = race(*([by_processing] * 4 + [by_reconcile] * 2))
    assert [r for r in results if isinstance(r, Exception)] == []
    with committed_db.session() as session:
        breaks = list(session.scalars(select(ReconciliationBreak)))
    assert [(b.type, b.inbox_id) for b in breaks] == [(CALLBACK_WITHOUT_INTENT, inbox_id)]


