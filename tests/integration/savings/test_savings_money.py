"""Savings money end to end: STK deposits, B2C withdrawals with their guards, goals, chamas.

Every flow goes through the real services, the outbox, the simulated M-Pesa and
its HTTP callbacks; afterwards the ledger verifies, sums to zero and its float
equals the simulator's own record of what moved.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

import ledger
from ledger import JournalEntry
from messaging.models import SmsMessage
from payments import intents
from payments.models import AWAITING_APPROVAL, ReconciliationBreak
from payments.providers import simulator
from savings import accounts, chamas, transfers
from savings.chart import chama_paying, chama_pool, savings_account, savings_withdrawing
from savings.errors import SavingsError
from savings.models import PAID, ChamaPayout

KES = 100


def sms_bodies(session, phone: str, template: str) -> list[str]:
    return list(session.scalars(select(SmsMessage.body).where(
        SmsMessage.template == template, SmsMessage.to_phone == phone)))


def entries_of_kind(session, kind: str) -> int:
    return int(session.scalar(select(func.count(JournalEntry.id))
                              .where(JournalEntry.kind == kind)) or 0)


# --- deposits ----------------------------------------------------------------------------------


def test_a_deposit_by_mpesa_prompt_credits_the_account_and_sends_a_receipt(savers,
                                                                           session) -> None:
    saver = savers.member()
    intent = savers.deposit(saver, 500 * KES)
    assert savers.intent(intent.id).status == "succeeded"
    assert savers.balance(savers.akiba(saver)) == 500 * KES
    receipt = session.scalar(select(SmsMessage).where(
        SmsMessage.template == "savings_deposit_receipt", SmsMessage.to_phone == saver.phone))
    assert receipt is not None and "KES 500" in receipt.body
    savers.assert_sound()


def test_duplicate_deposit_callbacks_credit_once(savers, session) -> None:
    saver = savers.member()
    simulator.set_behaviour(saver.phone, duplicates=3)
    intent = savers.deposit(saver, 300 * KES)
    assert savers.intent(intent.id).status == "succeeded"
    assert savers.balance(savers.akiba(saver)) == 300 * KES
    assert entries_of_kind(session, "savings_deposit") == 1
    savers.assert_sound()


def test_the_same_deposit_request_twice_prompts_once(savers, session) -> None:
    saver = savers.member()
    first = savers.deposit(saver, 100 * KES, key="same")
    again = savers.deposit(saver, 100 * KES, key="same")
    assert first.id == again.id
    assert savers.balance(savers.akiba(saver)) == 100 * KES


def test_a_cancelled_prompt_moves_no_money(savers) -> None:
    saver = savers.member()
    simulator.set_behaviour(saver.phone, outcome="cancelled")
    intent = savers.deposit(saver, 100 * KES)
    assert savers.intent(intent.id).status == "cancelled"
    assert savers.balance(savers.akiba(saver)) == 0
    savers.assert_sound()


@pytest.mark.parametrize(("amount", "code"), [(0, "invalid_amount"), (150, "invalid_amount"),
                                              (999, "invalid_amount"),
                                              (150_001 * KES, "invalid_amount")])
def test_amounts_m_pesa_cannot_move_are_refused(savers, amount, code) -> None:
    saver = savers.member()
    with pytest.raises(SavingsError) as refused:
        transfers.request_deposit(savers.session, member_id=saver.id,
                                  account_id=savers.akiba(saver).id, amount=amount,
                                  idempotency_key="bad")
    assert refused.value.code == code


def test_nobody_deposits_into_another_members_account(savers) -> None:
    owner, other = savers.member(), savers.member()
    with pytest.raises(SavingsError) as refused:
        transfers.request_deposit(savers.session, member_id=other.id,
                                  account_id=savers.akiba(owner).id, amount=100 * KES,
                                  idempotency_key="x")
    assert refused.value.code == "unknown_account"


# --- withdrawals -------------------------------------------------------------------------------


def withdraw(savers, saver, amount, account=None, key=None):
    intent = transfers.request_withdrawal(
        savers.session, member_id=saver.id, account_id=(account or savers.akiba(saver)).id,
        amount=amount, idempotency_key=key or f"wd-{amount}-{saver.id}")
    savers.session.commit()
    savers.worker.run()
    return intent


def test_a_withdrawal_pays_the_registered_phone_by_b2c(savers) -> None:
    saver = savers.member()
    savers.deposit(saver, 1_000 * KES)
    intent = withdraw(savers, saver, 400 * KES)
    settled = savers.intent(intent.id)
    assert (settled.status, settled.phone, settled.kind) == ("succeeded", saver.phone,
                                                              "savings_payout")
    assert savers.balance(savers.akiba(saver)) == 600 * KES
    assert ledger.balance(savers.session, savings_withdrawing(savers.akiba(saver).id)) == 0
    assert sms_bodies(savers.session, saver.phone, "savings_withdrawal_paid") == [
        "Akiba: KES 400 from Akiba was sent to your M-Pesa. Your balance there is now KES 600."]
    savers.assert_sound()


def test_a_withdrawal_above_the_balance_is_refused_and_changes_nothing(savers) -> None:
    saver = savers.member()
    savers.deposit(saver, 100 * KES)
    with pytest.raises(SavingsError) as refused:
        withdraw(savers, saver, 200 * KES)
    assert refused.value.code == "insufficient_funds"
    assert savers.balance(savers.akiba(saver)) == 100 * KES


def test_withdrawals_keep_to_the_daily_limit(savers) -> None:
    saver = savers.member()
    savers.deposit(saver, 150_000 * KES)
    withdraw(savers, saver, 40_000 * KES)
    with pytest.raises(SavingsError) as refused:
        withdraw(savers, saver, 30_001 * KES)
    assert refused.value.code == "daily_limit"
    withdraw(savers, saver, 30_000 * KES)
    assert transfers.withdrawn_today(savers.session, saver.id) == (
        transfers.DAILY_WITHDRAWAL_LIMIT)


def test_a_payout_above_the_approval_threshold_waits_and_a_rejection_gives_it_back(
        savers, runtime) -> None:
    assert runtime.settings.payout_approval_threshold == 50_000 * KES
    saver = savers.member()
    savers.deposit(saver, 100_000 * KES)
    intent = withdraw(savers, saver, 60_000 * KES)
    assert savers.intent(intent.id).status == AWAITING_APPROVAL
    assert savers.balance(savers.akiba(saver)) == 40_000 * KES  # held meanwhile
    intents.reject_payout(savers.session, intent.id, "ops@mkopo", "phone changed hands")
    savers.session.commit()
    assert savers.balance(savers.akiba(saver)) == 100_000 * KES
    savers.assert_sound()


def test_a_failed_payout_puts_the_money_back_and_opens_a_break(savers) -> None:
    saver = savers.member()
    savers.deposit(saver, 1_000 * KES)
    simulator.set_behaviour(saver.phone, outcome="unreachable")
    intent = withdraw(savers, saver, 500 * KES)
    assert savers.intent(intent.id).status == "failed"
    assert savers.balance(savers.akiba(saver)) == 1_000 * KES
    assert savers.session.scalar(select(ReconciliationBreak).where(
        ReconciliationBreak.intent_id == intent.id)).type == "payout_failed"
    assert sms_bodies(savers.session, saver.phone, "savings_withdrawal_failed") == [
        "Akiba: we could not send KES 500 to your M-Pesa. It is back in Akiba; your balance "
        "there is KES 1,000."]
    assert sms_bodies(savers.session, saver.phone, "savings_withdrawal_paid") == []
    savers.assert_sound()


# --- goals -------------------------------------------------------------------------------------


def test_a_locked_goal_cannot_be_withdrawn_from_before_its_date(savers, clock) -> None:
    saver = savers.member()
    lock = date(2026, 6, 1)
    goal = accounts.open_goal(savers.session, saver.id, name="School fees",
                              target=5_000 * KES, lock_until=lock)
    savers.deposit(saver, 2_000 * KES, account=goal)
    view = accounts.view(savers.session, goal)
    assert (view.balance, view.progress_percent, view.locked) == (2_000 * KES, 40, True)
    with pytest.raises(SavingsError) as refused:
        withdraw(savers, saver, 100 * KES, account=goal)
    assert refused.value.code == "locked"
    clock.advance(days=(lock - date(2026, 3, 2)).days)
    withdraw(savers, saver, 100 * KES, account=goal, key="after-lock")
    assert savers.balance(goal) == 1_900 * KES
    savers.assert_sound()


def test_a_goal_opened_twice_by_name_is_one_goal(savers) -> None:
    saver = savers.member()
    first = accounts.open_goal(savers.session, saver.id, name="Roof ", target=100 * KES,
                               lock_until=None)
    again = accounts.open_goal(savers.session, saver.id, name="roof", target=100 * KES,
                               lock_until=None)
    assert first.id == again.id
    assert [v.name for v in accounts.member_accounts(savers.session, saver.id)] == [
        "Akiba", "Roof"]


@pytest.mark.parametrize(("fields", "code"), [
    ({"name": "  ", "target": 100, "lock_until": None}, "invalid_name"),
    ({"name": "akiba", "target": 100, "lock_until": None}, "invalid_name"),
    ({"name": "Roof", "target": 0, "lock_until": None}, "invalid_target"),
    ({"name": "Roof", "target": 100, "lock_until": date(2026, 3, 2)}, "invalid_lock_date"),
    ({"name": "Roof", "target": 100, "lock_until": date(2030, 1, 1)}, "invalid_lock_date"),
])
def test_a_goal_needs_a_name_a_target_and_a_future_lock_date(savers, fields, code) -> None:
    saver = savers.member()
    with pytest.raises(SavingsError) as refused:
        accounts.open_goal(savers.session, saver.id, **fields)
    assert refused.value.code == code


# --- chamas ------------------------------------------------------------------------------------


def contribute(savers, member, chama):
    intent = transfers.request_contribution(savers.session, member_id=member.id,
                                            chama_id=chama.id,
                                            idempotency_key=f"c-{member.id}-{chama.current_round}")
    savers.session.commit()
    savers.worker.run()
    return intent


def test_a_chama_pays_each_round_pot_to_the_next_member_in_turn(savers, clock) -> None:
    people = [savers.member(first_name=name) for name in ("Amina", "Baraka", "Chebet")]
    chama = chamas.create_chama(savers.session, name="Tumaini", contribution=500 * KES,
                                frequency="weekly", start_date=date(2026, 3, 2),
                                member_ids=[p.id for p in people], actor="test")
    for person in people:
        contribute(savers, person, chama)
    assert chamas.pot(savers.session, chama.id, 1) == 1_500 * KES
    assert chamas.close_round(savers.session, chama.id, date(2026, 3, 8)) == []  # not ended

    payouts = chamas.close_round(savers.session, chama.id, date(2026, 3, 9))
    savers.session.commit()
    savers.worker.run()
    savers.session.expire_all()
    assert [(p.member_id, p.amount, p.status) for p in payouts] == [
        (people[0].id, 1_500 * KES, PAID)]
    assert ledger.balance(savers.session, chama_pool(chama.id)) == 0
    assert ledger.balance(savers.session, chama_paying(chama.id)) == 0
    assert chamas.summary(savers.session, chama).next_recipients == ["Baraka"]
    assert sms_bodies(savers.session, people[0].phone, "chama_payout_paid") == [
        "Tumaini: your payout of KES 1,500 for round 1 was sent to your M-Pesa."]
    # A contribution paid now counts for round 2, never for the round already paid out.
    contribute(savers, people[2], chama)
    assert chamas.pot(savers.session, chama.id, 2) == 500 * KES
    savers.assert_sound()


def test_closing_rounds_twice_pays_each_round_once(savers) -> None:
    people = [savers.member() for _ in range(2)]
    chama = chamas.create_chama(savers.session, name="Umoja", contribution=100 * KES,
                                frequency="monthly", start_date=date(2026, 1, 1),
                                member_ids=[p.id for p in people])
    assert chamas.close_due_rounds(savers.session, date(2026, 3, 2)) == 2
    assert chamas.close_due_rounds(savers.session, date(2026, 3, 2)) == 0
    rows = savers.session.scalars(select(ChamaPayout).where(ChamaPayout.chama_id == chama.id)
                                  .order_by(ChamaPayout.round)).all()
    assert [(r.round, r.member_id, r.amount) for r in rows] == [
        (1, people[0].id, 0), (2, people[1].id, 0)]


@pytest.mark.parametrize(("fields", "code"), [
    ({"contribution": 150}, "invalid_amount"),
    ({"frequency": "daily"}, "invalid_frequency"),
    ({"payouts_per_round": 2}, "invalid_payouts_per_round"),
    ({"name": " "}, "invalid_name"),
])
def test_a_chama_is_refused_with_the_field_at_fault(savers, fields, code) -> None:
    people = [savers.member() for _ in range(2)]
    values = {"name": "Umoja", "contribution": 100 * KES, "frequency": "weekly",
              "start_date": date(2026, 3, 2), "member_ids": [p.id for p in people], **fields}
    with pytest.raises(SavingsError) as refused:
        chamas.create_chama(savers.session, **values)
    assert refused.value.code == code


def test_only_members_contribute_to_a_chama(savers) -> None:
    people = [savers.member() for _ in range(2)]
    outsider = savers.member()
    chama = chamas.create_chama(savers.session, name="Umoja", contribution=100 * KES,
                                frequency="weekly", start_date=date(2026, 3, 2),
                                member_ids=[p.id for p in people])
    with pytest.raises(SavingsError) as refused:
        transfers.request_contribution(savers.session, member_id=outsider.id,
                                       chama_id=chama.id, idempotency_key="o")
    assert refused.value.code == "not_a_member"


def test_the_withdrawal_hold_is_created_after_the_account(savers) -> None:
    """Lock order: the savings account's ledger row precedes its in-flight account's."""
    saver = savers.member()
    savers.deposit(saver, 100 * KES)
    withdraw(savers, saver, 50 * KES)
    account, hold = (ledger.get_account(savers.session, spec, "KES") for spec in (
        savings_account(savers.akiba(saver).id), savings_withdrawing(savers.akiba(saver).id)))
    assert account.id < hold.id

