"""End to end through the simulator: intents, outbox, HTTP callbacks, processing, sweeps.

After every flow the ledger verifies, the trial balance is zero, and the float
equals what the simulator's own record says M-Pesa moved.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from core.outbox import MAX_ATTEMPTS
from ledger import SUSPENSE, InsufficientFunds, lender_wallet
from lending import settlement as loan_settlement
from lending.models import Loan, Repayment
from payments import intents
from payments.accounts import withdrawals_in_flight
from payments.config import overridden
from payments.intents import PaymentError
from payments.models import SimMpesaTransaction
from payments.providers import simulator
from payments.sweeps import run_sweeps


def repay(session: Any, loan: Loan, amount: int = 26_000, key: str = "rep-1") -> Any:
    intent = loan_settlement.request_repayment(session, member_id=loan.borrower_id, loan_id=loan.id,
                                       phone=loan.borrower.phone, amount=amount,
                                       idempotency_key=key)
    session.commit()
    return intent


def sim_rows(session: Any, kind: str) -> list[SimMpesaTransaction]:
    session.expire_all()
    return list(session.scalars(select(SimMpesaTransaction).where(
        SimMpesaTransaction.kind == kind).order_by(SimMpesaTransaction.id)))


def sweep_after(clock: Any, worker: Any, seconds: int) -> dict[str, int]:
    clock.advance(seconds=seconds)
    counts = run_sweeps()
    worker.run()
    return counts


# --- collections -----------------------------------------------------------------------------


def test_a_repayment_by_stk_push_is_posted_once(session, loans, worker, books) -> None:
    loan = loans.active()
    intent = repay(session, loan)
    worker.run()
    intent = books.intent(intent.id)
    assert intent.status == "succeeded" and intent.receipt is not None
    repayment = session.scalar(select(Repayment).where(
        Repayment.key == intent.checkout_request_id))
    assert repayment is not None and repayment.receipt == intent.receipt
    books.assert_sound()


@pytest.mark.parametrize(("outcome", "status", "code"), [
    ("cancelled", "cancelled", "1032"),
    ("wrong_pin", "failed", "2001"),
    ("insufficient_funds", "failed", "1"),
    ("unreachable", "failed", "1037"),
])
def test_a_customer_who_does_not_pay_moves_no_money(session, loans, worker, books,
                                                     outcome, status, code) -> None:
    loan = loans.active()
    simulator.set_behaviour(loan.borrower.phone, outcome=outcome)
    entries = books.entries()
    intent = repay(session, loan)
    worker.run()
    intent = books.intent(intent.id)
    assert (intent.status, intent.result_code) == (status, code)
    assert books.entries() == entries
    books.assert_sound()


def test_duplicate_callbacks_from_m_pesa_are_applied_once(session, loans, worker,
                                                          books) -> None:
    loan = loans.active()
    simulator.set_behaviour(loan.borrower.phone, duplicates=3)
    intent = repay(session, loan)
    worker.run()
    (stk,) = [r for r in sim_rows(session, "stk") if r.phone == loan.borrower.phone]
    assert stk.callbacks_sent == 4
    assert len(books.inbox(intent.checkout_request_id)) == 1
    assert session.scalar(select(func.count(Repayment.id)).where(
        Repayment.loan_id == loan.id)) == 1
    books.assert_sound()


def test_a_result_posted_before_the_push_answer_is_stored_still_settles(
    session, loans, worker, books
) -> None:
    loan = loans.active()
    simulator.set_behaviour(loan.borrower.phone, out_of_order=True)
    intent = repay(session, loan)
    worker.run()
    assert books.intent(intent.id).status == "succeeded"
    books.assert_sound()


def test_a_missing_stk_callback_is_recovered_by_the_sweepers_query(
    session, loans, worker, books, clock
) -> None:
    loan = loans.active()
    simulator.set_behaviour(loan.borrower.phone, no_callback=True)
    intent = repay(session, loan)
    worker.run()
    assert books.intent(intent.id).status == "requested"
    assert sweep_after(clock, worker, 181)["status_queries"] == 1
    intent = books.intent(intent.id)
    assert (intent.status, intent.status_queries) == ("succeeded", 1)
    books.assert_sound()


def test_an_unanswered_prompt_is_queried_a_bounded_number_of_times_then_breaks(
    session, loans, worker, books, clock
) -> None:
    loan = loans.active()
    simulator.set_behaviour(loan.borrower.phone, prompt=True)
    intent = repay(session, loan)
    worker.run()
    for _ in range(8):
        sweep_after(clock, worker, 1800)
    intent = books.intent(intent.id)
    assert (intent.status, intent.status_queries) == ("unknown", 5)
    (item,) = books.breaks("stale_pending")
    assert item.intent_id == intent.id
    # The customer finally answers: a late result still settles the intent.
    (prompt,) = simulator.pending_prompts(loan.borrower.phone)
    assert simulator.answer_prompt(prompt.id, "1234") == "success"
    worker.run()
    assert books.intent(intent.id).status == "succeeded"
    books.assert_sound()


@pytest.mark.parametrize(("pin", "status"), [
    ("1234", "succeeded"), ("9999", "failed"), (None, "cancelled")])
def test_the_phone_simulator_answers_prompts(session, loans, worker, books, pin,
                                             status) -> None:
    loan = loans.active()
    simulator.set_behaviour(loan.borrower.phone, prompt=True)
    intent = repay(session, loan)
    worker.run()
    (prompt,) = simulator.pending_prompts(loan.borrower.phone)
    assert (prompt.amount, prompt.reference) == (26_000, loan.reference)
    assert simulator.answer_prompt(str(prompt.id), pin) is not None
    assert simulator.answer_prompt(prompt.id, pin) is None  # answered already
    worker.run()
    assert books.intent(intent.id).status == status
    assert simulator.pending_prompts(loan.borrower.phone) == []
    books.assert_sound()


def test_one_prompt_at_a_time_and_the_same_key_is_the_same_intent(session, loans) -> None:
    loan = loans.active()
    first = repay(session, loan)
    assert repay(session, loan).id == first.id
    with pytest.raises(PaymentError) as refused:
        repay(session, loan, key="rep-2")
    assert refused.value.code == "payment_pending"
    with pytest.raises(PaymentError) as conflict:
        repay(session, loan, amount=30_000)
    assert conflict.value.code == "idempotency_conflict"


@pytest.mark.parametrize("amount", [0, -100, 26_050, 1.5])
def test_amounts_m_pesa_cannot_move_are_refused_at_once(session, loans, amount) -> None:
    loan = loans.active()
    with pytest.raises(PaymentError):
        repay(session, loan, amount=amount)


def test_an_unreachable_provider_is_retried_then_the_intent_fails(
    session, loans, worker, books, clock
) -> None:
    loan = loans.active()
    simulator.set_behaviour(None, api_down=True)
    intent = repay(session, loan)
    for _ in range(MAX_ATTEMPTS + 1):
        sweep_after(clock, worker, 3700)
    intent = books.intent(intent.id)
    assert intent.status == "failed" and "unreachable" in (intent.result_desc or "")
    books.assert_sound()


def test_a_deposit_tops_up_the_wallet(session, loans, worker, books) -> None:
    lender = loans.member()
    intent = intents.request_deposit(session, member_id=lender.id, phone=lender.phone,
                                     amount=300_000, idempotency_key="dep-1")
    session.commit()
    worker.run()
    assert books.intent(intent.id).status == "succeeded"
    assert books.balance(lender_wallet(lender.id)) == 300_000
    books.assert_sound()


# --- paybill (C2B) ---------------------------------------------------------------------------


def test_a_paybill_payment_to_the_loan_reference_repays_it(session, loans, worker,
                                                           books) -> None:
    loan = loans.active()
    trans_id = simulator.simulate_paybill_payment(loan.borrower.phone, 26_000,
                                                  loan.reference.lower())
    worker.run()
    repayment = session.scalar(select(Repayment).where(Repayment.key == trans_id))
    assert repayment is not None and repayment.amount == 26_000
    books.assert_sound()


def test_a_paybill_payment_to_no_loan_lands_in_suspense(session, loans, worker, books) -> None:
    trans_id = simulator.simulate_paybill_payment("+254799000111", 70_000, "WRONG")
    worker.run()
    assert books.balance(SUSPENSE) == 70_000
    (item,) = books.breaks("unmatched_c2b")
    assert item.receipt == trans_id
    books.assert_sound()


def test_a_rejected_paybill_payment_takes_no_money(session, worker, books, sim) -> None:
    with overridden(c2b_validation="reject_unknown"):
        simulator.simulate_paybill_payment("+254799000111", 70_000, "WRONG")
        worker.run()
    (row,) = sim_rows(session, "c2b")
    assert (row.status, row.result_code) == ("failed", "C2B00012")
    assert books.entries() == 0
    books.assert_sound()


def test_an_operator_reversal_gives_suspense_money_back(session, worker, books, sim) -> None:
    trans_id = simulator.simulate_paybill_payment("+254799000111", 70_000, "WRONG")
    worker.run()
    intent = intents.request_reversal(session, receipt=trans_id, amount=70_000,
                                      reason="wrong paybill", actor="ops",
                                      idempotency_key="rev-1")
    session.commit()
    worker.run()
    assert books.intent(intent.id).status == "succeeded"
    assert books.balance(SUSPENSE) == 0
    books.assert_sound()


# --- payouts -------------------------------------------------------------------------------


def test_a_funded_loan_is_paid_out_once(session, loans, worker, books) -> None:
    loan = loans.funded(100_000)
    worker.run()
    session.refresh(loan)
    assert loan.status == "active"
    from core import outbox

    outbox.add(session, "loan.disburse", "disburse-again", {"loan_id": loan.id},
               queue="payments")
    session.commit()
    worker.run()
    assert len([r for r in sim_rows(session, "b2c") if r.phone == loan.borrower.phone]) == 1
    books.assert_sound()


def test_a_failed_payout_returns_the_loan_to_funded_with_a_break(session, loans, worker,
                                                                 books) -> None:
    loan = loans.funded(100_000, commit=False)
    simulator.set_behaviour(loan.borrower.phone, outcome="unreachable")
    session.commit()
    worker.run()
    session.refresh(loan)
    assert loan.status == "funded"
    (item,) = books.breaks("payout_failed")
    assert item.loan_id == loan.id
    books.assert_sound()


def test_a_missing_b2c_result_is_recovered_by_a_transaction_status_query(
    session, loans, worker, books, clock
) -> None:
    loan = loans.funded(100_000, commit=False)
    simulator.set_behaviour(loan.borrower.phone, no_callback=True)
    session.commit()
    worker.run()
    session.refresh(loan)
    assert loan.status == "disbursing"
    sweep_after(clock, worker, 601)
    session.refresh(loan)
    assert loan.status == "active"
    books.assert_sound()


def test_a_b2c_queue_timeout_is_settled_by_status_query_not_failed(
    session, loans, worker, books
) -> None:
    loan = loans.funded(100_000, commit=False)
    simulator.set_behaviour(loan.borrower.phone, timeout=True)
    session.commit()
    worker.run()  # timeout → status query → status result → completed
    session.refresh(loan)
    assert loan.status == "active"
    assert books.breaks() == []
    books.assert_sound()


class InDoubtProvider:
    """Takes the B2C (the money goes) but the answer is lost on the way back."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def disburse(self, **kwargs: Any) -> Any:
        from core.outbox import TransientError

        self.real.disburse(**kwargs)
        raise TransientError("B2C payment: no answer from Daraja (ReadTimeout)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_payout_whose_answer_is_lost_is_never_sent_twice(session, loans, worker, books,
                                                           sim, clock) -> None:
    from payments.factory import using_provider

    loan = loans.funded(100_000, commit=False)
    simulator.set_behaviour(loan.borrower.phone, no_callback=True)
    session.commit()
    with using_provider(InDoubtProvider(sim)):  # type: ignore[arg-type]
        worker.run()
        for _ in range(3):
            sweep_after(clock, worker, 3700)
    session.refresh(loan)
    assert loan.status == "active"
    assert len([r for r in sim_rows(session, "b2c") if r.phone == loan.borrower.phone]) == 1
    books.assert_sound()


def test_a_large_payout_waits_for_an_operator(session, loans, worker, books, runtime) -> None:
    threshold = runtime.settings.payout_approval_threshold
    loan = loans.funded(threshold + 100_000)
    worker.run()
    intent = books.intent(_payout(session, loan.id))
    assert intent.status == "awaiting_approval"
    assert [r for r in sim_rows(session, "b2c") if r.phone == loan.borrower.phone] == []
    intents.approve_payout(session, intent.id, "ops-amina")
    intents.approve_payout(session, intent.id, "ops-amina")  # twice changes nothing
    session.commit()
    worker.run()
    session.refresh(loan)
    assert loan.status == "active" and books.intent(intent.id).approved_by == "ops-amina"
    books.assert_sound()


def test_a_rejected_payout_returns_the_loan_to_funded(session, loans, worker, books,
                                                      runtime) -> None:
    loan = loans.funded(runtime.settings.payout_approval_threshold + 100_000)
    worker.run()
    intent_id = _payout(session, loan.id)
    intents.reject_payout(session, intent_id, "ops", "borrower asked to wait")
    session.commit()
    session.refresh(loan)
    assert (loan.status, books.intent(intent_id).status) == ("funded", "cancelled")
    with pytest.raises(PaymentError):
        intents.approve_payout(session, intent_id, "ops")


def test_a_sim_swap_flag_holds_the_payout(session, loans, worker, books) -> None:
    intents.SIM_SWAP_CHECKS.append(lambda phone: True)
    try:
        loan = loans.funded(100_000)
        worker.run()
    finally:
        intents.SIM_SWAP_CHECKS.clear()
    intent = books.intent(_payout(session, loan.id))
    assert intent.status == "awaiting_approval" and "SIM swap" in (intent.result_desc or "")
    # An operator who checked with the borrower lets it go; it is not checked again.
    intents.SIM_SWAP_CHECKS.append(lambda phone: True)
    try:
        intents.approve_payout(session, intent.id, "ops")
        session.commit()
        worker.run()
    finally:
        intents.SIM_SWAP_CHECKS.clear()
    session.refresh(loan)
    assert loan.status == "active"
    books.assert_sound()


def test_a_failing_sim_swap_check_holds_the_payout_too(session, loans, worker, books) -> None:
    def broken(phone: str) -> bool:
        raise TimeoutError("telco API down")

    intents.SIM_SWAP_CHECKS.append(broken)
    try:
        loan = loans.funded(100_000)
        worker.run()
    finally:
        intents.SIM_SWAP_CHECKS.clear()
    assert books.intent(_payout(session, loan.id)).status == "awaiting_approval"


def _payout(session: Any, loan_id: int) -> int:
    from payments.models import PaymentIntent

    found = session.scalar(select(PaymentIntent.id).where(
        PaymentIntent.loan_id == loan_id, PaymentIntent.kind == "disbursement"))
    assert found is not None
    return int(found)


# --- lender withdrawals ----------------------------------------------------------------------


def test_a_withdrawal_is_held_at_request_and_paid_once(session, loans, worker, books) -> None:
    lender = loans.lender(wallet=500_000)
    intent = intents.request_withdrawal(session, member_id=lender.id, phone=lender.phone,
                                        amount=300_000, idempotency_key="wd-1")
    assert books.balance(lender_wallet(lender.id)) == 200_000
    assert books.balance(withdrawals_in_flight(lender.id)) == 300_000
    with pytest.raises(InsufficientFunds):  # the held money cannot be withdrawn again
        intents.request_withdrawal(session, member_id=lender.id, phone=lender.phone,
                                   amount=300_000, idempotency_key="wd-2")
    session.commit()
    worker.run()
    assert books.intent(intent.id).status == "succeeded"
    assert books.balance(withdrawals_in_flight(lender.id)) == 0
    assert books.balance(lender_wallet(lender.id)) == 200_000
    books.assert_sound()


def test_a_failed_withdrawal_goes_back_to_the_wallet(session, loans, worker, books) -> None:
    lender = loans.lender(wallet=500_000)
    simulator.set_behaviour(lender.phone, outcome="insufficient_funds")
    intent = intents.request_withdrawal(session, member_id=lender.id, phone=lender.phone,
                                        amount=300_000, idempotency_key="wd-1")
    session.commit()
    worker.run()
    assert books.intent(intent.id).status == "failed"
    assert books.balance(lender_wallet(lender.id)) == 500_000
    assert books.balance(withdrawals_in_flight(lender.id)) == 0
    assert [item.type for item in books.breaks()] == ["payout_failed"]
    books.assert_sound()


def test_a_large_withdrawal_waits_and_can_be_rejected_back_to_the_wallet(
    session, loans, worker, books, runtime
) -> None:
    amount = runtime.settings.payout_approval_threshold + 100_000
    lender = loans.lender(wallet=amount)
    intent = intents.request_withdrawal(session, member_id=lender.id, phone=lender.phone,
                                        amount=amount, idempotency_key="wd-big")
    session.commit()
    worker.run()
    assert books.intent(intent.id).status == "awaiting_approval"
    intents.reject_payout(session, intent.id, "ops", "call the lender first")
    session.commit()
    assert books.balance(lender_wallet(lender.id)) == amount
    books.assert_sound()


# --- operator commands -------------------------------------------------------------------------


def test_settle_pending_queries_every_waiting_payment_now(session, loans, worker, books,
                                                          runner) -> None:
    loan = loans.active()
    simulator.set_behaviour(loan.borrower.phone, no_callback=True)
    intent = repay(session, loan)
    worker.run()
    result = runner.invoke(args=["settle-pending"])
    assert result.exit_code == 0 and "status queries ordered: 1" in result.output
    worker.run()
    assert books.intent(intent.id).status == "succeeded"
    books.assert_sound()


def test_register_c2b_urls_answers(runner, sim) -> None:
    result = runner.invoke(args=["register-c2b-urls"])
    assert result.exit_code == 0 and "registered" in result.output
