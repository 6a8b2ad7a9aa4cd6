"""Every Daraja fixture through the real endpoint and the processing job, with its entries."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from core.outbox import OutboxItem
from ledger import MOBILE_MONEY_FLOAT, SUSPENSE, lender_wallet
from lending import settlement as loan_settlement
from lending.models import Repayment
from messaging.models import SmsMessage
from payments import intents, processing
from payments.models import REQUESTED, PaymentIntent

TOKEN = "test-callback-token"
STK_OK = "ws_CO_28112026091530123711000101"


def post(client: Any, path: str, payload: Any) -> None:
    response = client.post(f"/mpesa/{TOKEN}/{path}", data=json.dumps(payload),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.data


def given_requested(session: Any, intent: PaymentIntent, **ids: str) -> PaymentIntent:
    """Pretend the provider accepted the request under the fixture's identifiers."""
    for name, value in ids.items():
        setattr(intent, name, value)
    intent.status = REQUESTED
    session.commit()
    return intent


def repayment_intent(session: Any, loan: Any, amount: int, key: str = "rep-1") -> PaymentIntent:
    return loan_settlement.request_repayment(session, member_id=loan.borrower_id, loan_id=loan.id,
                                     phone=loan.borrower.phone, amount=amount,
                                     idempotency_key=key)


@pytest.fixture
def active_loan(loans: Any) -> Any:
    return loans.active(100_000)


def test_stk_success_repays_the_loan_under_the_checkout_id(
    client, session, worker, books, fixture_payload, active_loan
) -> None:
    intent = given_requested(session, repayment_intent(session, active_loan, 45_000),
                             checkout_request_id=STK_OK)
    float_before = books.balance(MOBILE_MONEY_FLOAT)
    post(client, "stk", fixture_payload("daraja_stk_callback_success.json"))
    worker.run()
    intent = books.intent(intent.id)
    assert (intent.status, intent.receipt, intent.result_code) == ("succeeded", "TKS8A1B2C3", "0")
    repayment = session.scalar(select(Repayment).where(Repayment.key == STK_OK))
    assert repayment is not None and (repayment.amount, repayment.receipt) == (
        45_000, "TKS8A1B2C3")
    assert books.balance(MOBILE_MONEY_FLOAT) == float_before + 45_000
    assert [row.status for row in books.inbox(STK_OK)] == ["processed"]
    books.assert_sound(against_simulator=False)


@pytest.mark.parametrize(("name", "status"), [
    ("daraja_stk_callback_cancelled.json", "cancelled"),
    ("daraja_stk_callback_unreachable.json", "failed"),
])
def test_stk_failure_fails_the_intent_and_tells_the_borrower(
    client, session, worker, books, fixture_payload, active_loan, name, status
) -> None:
    payload = fixture_payload(name)
    checkout = payload["Body"]["stkCallback"]["CheckoutRequestID"]
    intent = given_requested(session, repayment_intent(session, active_loan, 45_000),
                             checkout_request_id=checkout)
    entries = books.entries()
    post(client, "stk", payload)
    worker.run()
    assert books.intent(intent.id).status == status
    assert books.entries() == entries
    sms = session.scalar(select(SmsMessage).where(
        SmsMessage.idempotency_key == f"payment-failed:{intent.id}"))
    assert sms is not None and sms.template == "payment_failed"
    assert sms.to_phone == active_loan.borrower.phone and "KES 450" in sms.body


def test_c2b_confirmation_repays_the_loan_its_account_names(
    client, session, worker, books, fixture_payload, active_loan
) -> None:
    active_loan.reference = "L1042"
    session.commit()
    float_before = books.balance(MOBILE_MONEY_FLOAT)
    post(client, "c2b/confirmation", fixture_payload("daraja_c2b_confirmation.json"))
    worker.run()
    repayment = session.scalar(select(Repayment).where(Repayment.key == "TKS9Q8W7E6"))
    assert repayment is not None and (repayment.amount, repayment.source) == (50_000, "c2b")
    assert books.balance(MOBILE_MONEY_FLOAT) == float_before + 50_000
    assert books.breaks() == []
    books.assert_sound(against_simulator=False)


@pytest.mark.parametrize("bill_ref", ["l 1042", " L1042 "])
def test_the_account_is_matched_whatever_its_case_and_spaces(
    client, session, worker, fixture_payload, active_loan, bill_ref
) -> None:
    active_loan.reference = "L1042"
    session.commit()
    post(client, "c2b/confirmation",
         {**fixture_payload("daraja_c2b_confirmation.json"), "BillRefNumber": bill_ref})
    worker.run()
    assert session.scalar(select(Repayment.id).where(Repayment.key == "TKS9Q8W7E6")) is not None


def test_c2b_by_the_borrowers_phone_repays_their_current_loan(
    client, session, worker, fixture_payload, active_loan
) -> None:
    local = "0" + active_loan.borrower.phone.removeprefix("+254")
    post(client, "c2b/confirmation",
         {**fixture_payload("daraja_c2b_confirmation.json"), "BillRefNumber": local})
    worker.run()
    repayment = session.scalar(select(Repayment).where(Repayment.key == "TKS9Q8W7E6"))
    assert repayment is not None and repayment.loan_id == active_loan.id


def test_c2b_matching_no_loan_goes_to_suspense_and_the_queue(
    client, session, worker, books, fixture_payload
) -> None:
    post(client, "c2b/confirmation", fixture_payload("daraja_c2b_confirmation.json"))
    worker.run()
    assert books.balance(SUSPENSE) == 50_000
    assert books.balance(MOBILE_MONEY_FLOAT) == 50_000
    (item,) = books.breaks()
    assert (item.type, item.receipt, item.amount) == ("unmatched_c2b", "TKS9Q8W7E6", 50_000)
    assert item.journal_entry_id is not None and item.details["reference"] == "L1042"
    assert [row.status for row in books.inbox()] == ["break"]
    books.assert_sound(against_simulator=False)


def test_c2b_for_a_loan_that_cannot_take_it_goes_to_suspense(
    client, session, worker, books, fixture_payload, loans
) -> None:
    loan = loans.funded(commit=False)  # funded, not yet paid out: not repayable
    loan.reference = "L1042"
    session.commit()
    post(client, "c2b/confirmation", fixture_payload("daraja_c2b_confirmation.json"))
    worker.run()
    (item,) = books.breaks("unmatched_c2b")
    assert item.loan_id == loan.id
    assert books.balance(SUSPENSE) == 50_000


def payout_intent(session: Any, loans: Any, amount: int, originator: str) -> PaymentIntent:
    loan = loans.funded(amount, commit=False)
    intent = loan_settlement.start_loan_payout(session, loan.id)
    assert intent is not None
    return given_requested(session, intent, originator_conversation_id=originator,
                           idempotency_key=originator)


def test_b2c_success_completes_the_disbursement(
    client, session, worker, books, fixture_payload, loans
) -> None:
    intent = payout_intent(session, loans, 500_000, "mkopo-disb-1042-1")
    float_before = books.balance(MOBILE_MONEY_FLOAT)
    post(client, "b2c/result", fixture_payload("daraja_b2c_result_success.json"))
    worker.run()
    intent = books.intent(intent.id)
    assert (intent.status, intent.receipt) == ("succeeded", "TKT1Z2X3C4")
    loan = intent.loan_id
    from lending.models import Loan

    assert session.get(Loan, loan).status == "active"
    assert books.balance(MOBILE_MONEY_FLOAT) == float_before - 500_000
    books.assert_sound(against_simulator=False)


def test_b2c_failure_puts_the_loan_back_and_opens_a_payout_break(
    client, session, worker, books, fixture_payload, loans
) -> None:
    intent = payout_intent(session, loans, 500_000, "mkopo-disb-1043-1")
    entries = books.entries()
    post(client, "b2c/result", fixture_payload("daraja_b2c_result_failure.json"))
    worker.run()
    intent = books.intent(intent.id)
    assert (intent.status, intent.result_code) == ("failed", "2040")
    from lending.models import Loan

    assert session.get(Loan, intent.loan_id).status == "funded"
    assert books.entries() == entries
    (item,) = books.breaks()
    assert (item.type, item.intent_id, item.loan_id) == ("payout_failed", intent.id,
                                                         intent.loan_id)


def test_b2c_timeout_is_not_a_failure_it_orders_a_status_query(
    client, session, worker, books, fixture_payload, loans, sim
) -> None:
    intent = payout_intent(session, loans, 500_000, "mkopo-disb-1044-1")
    post(client, "b2c/timeout", fixture_payload("daraja_b2c_timeout.json"))
    worker.run()
    intent = books.intent(intent.id)
    assert intent.status == "requested" and intent.status_queries == 1
    query = session.scalar(select(OutboxItem).where(OutboxItem.kind == "mpesa.status_query"))
    assert query is not None and query.payload == {"intent_id": intent.id}
    assert intent.last_query_id is not None  # the query went out to the provider


def test_a_reversal_of_money_in_suspense_mirrors_its_entry(
    client, session, worker, books, fixture_payload
) -> None:
    post(client, "c2b/confirmation", fixture_payload("daraja_c2b_confirmation.json"))
    worker.run()
    post(client, "reversal/result", fixture_payload("daraja_reversal_result.json"))
    worker.run()
    assert books.balance(SUSPENSE) == 0 and books.balance(MOBILE_MONEY_FLOAT) == 0
    types = sorted(item.type for item in books.breaks())
    # M-Pesa reversed it on its own (no intent of ours): an operator should know.
    assert types == ["callback_without_intent", "unmatched_c2b"]
    books.assert_sound(against_simulator=False)


def test_a_reversal_of_a_repayment_is_held_in_suspense_for_lending_to_unwind(
    client, session, worker, books, fixture_payload, active_loan
) -> None:
    active_loan.reference = "L1042"
    session.commit()
    post(client, "c2b/confirmation", fixture_payload("daraja_c2b_confirmation.json"))
    worker.run()
    float_before = books.balance(MOBILE_MONEY_FLOAT)
    post(client, "reversal/result", fixture_payload("daraja_reversal_result.json"))
    worker.run()
    assert books.balance(MOBILE_MONEY_FLOAT) == float_before - 50_000
    assert books.balance(SUSPENSE) == -50_000  # owed back to us by the loan
    (item,) = books.breaks()
    assert item.type == "callback_without_intent" and item.journal_entry_id is not None
    books.assert_sound(against_simulator=False)


def test_a_reversal_we_asked_for_settles_its_intent(
    client, session, worker, books, fixture_payload, sim
) -> None:
    post(client, "c2b/confirmation", fixture_payload("daraja_c2b_confirmation.json"))
    worker.run()
    intent = intents.request_reversal(session, receipt="TKS9Q8W7E6", amount=50_000,
                                      reason="paid the wrong paybill", actor="ops",
                                      idempotency_key="rev-1")
    given_requested(session, intent, originator_conversation_id="mkopo-rev-77-1")
    post(client, "reversal/result", fixture_payload("daraja_reversal_result.json"))
    worker.run()
    assert books.intent(intent.id).status == "succeeded"
    assert books.balance(SUSPENSE) == 0
    assert [item.type for item in books.breaks()] == ["unmatched_c2b"]


# --- unknown ids, tampering, duplicates, order ----------------------------------------------


def test_a_result_for_an_unknown_checkout_waits_then_breaks_into_suspense(
    client, session, worker, books, fixture_payload, clock
) -> None:
    post(client, "stk", fixture_payload("daraja_stk_callback_success.json"))
    worker.run()
    (row,) = books.inbox()
    assert row.status == "received" and books.breaks() == []
    clock.advance(minutes=16)
    assert processing.process_callback(row.id) == "break"
    (item,) = books.breaks()
    assert (item.type, item.amount, item.receipt) == (
        "callback_without_intent", 45_000, "TKS8A1B2C3")
    assert books.balance(SUSPENSE) == 45_000
    books.assert_sound(against_simulator=False)


def test_a_failure_for_an_unknown_checkout_breaks_without_money(
    client, session, worker, books, fixture_payload, clock
) -> None:
    post(client, "stk", fixture_payload("daraja_stk_callback_cancelled.json"))
    clock.advance(minutes=16)
    worker.run()
    (item,) = books.breaks()
    assert item.type == "callback_without_intent" and item.journal_entry_id is None
    assert books.entries() == 0


def test_a_b2c_result_for_an_unknown_payout_is_a_break(
    client, session, worker, books, fixture_payload, clock
) -> None:
    clock.advance(minutes=-20)
    post(client, "b2c/result", fixture_payload("daraja_b2c_result_success.json"))
    clock.advance(minutes=20)
    worker.run()
    (item,) = books.breaks()
    assert item.type == "callback_without_intent" and books.entries() == 0


def test_a_tampered_amount_is_a_break_and_the_ledger_is_untouched(
    client, session, worker, books, fixture_payload, active_loan
) -> None:
    intent = given_requested(session, repayment_intent(session, active_loan, 45_000),
                             checkout_request_id=STK_OK)
    entries = books.entries()
    payload = fixture_payload("daraja_stk_callback_success.json")
    payload["Body"]["stkCallback"]["CallbackMetadata"]["Item"][0]["Value"] = 4500.0
    post(client, "stk", payload)
    worker.run()
    assert books.entries() == entries
    assert books.intent(intent.id).status == "requested"  # a status query will tell
    (item,) = books.breaks()
    assert (item.type, item.amount, item.details["expected"]) == (
        "amount_mismatch", 450_000, 45_000)


def test_a_duplicate_with_a_different_amount_after_success_changes_nothing(
    client, session, worker, books, fixture_payload, active_loan
) -> None:
    given_requested(session, repayment_intent(session, active_loan, 45_000),
                    checkout_request_id=STK_OK)
    payload = fixture_payload("daraja_stk_callback_success.json")
    post(client, "stk", payload)
    worker.run()
    entries, float_after = books.entries(), books.balance(MOBILE_MONEY_FLOAT)
    payload["Body"]["stkCallback"]["CallbackMetadata"]["Item"][0]["Value"] = 1.0
    post(client, "stk", payload)
    worker.run()
    assert (books.entries(), books.balance(MOBILE_MONEY_FLOAT)) == (entries, float_after)
    assert [item.type for item in books.breaks()] == ["amount_mismatch"]


def test_duplicate_callbacks_credit_once(
    client, session, worker, books, fixture_payload, active_loan
) -> None:
    given_requested(session, repayment_intent(session, active_loan, 45_000),
                    checkout_request_id=STK_OK)
    float_before = books.balance(MOBILE_MONEY_FLOAT)
    payload = fixture_payload("daraja_stk_callback_success.json")
    for _ in range(5):
        post(client, "stk", payload)
    worker.run()
    (row,) = books.inbox(STK_OK)
    assert processing.process_callback(row.id) == "skipped"
    assert books.balance(MOBILE_MONEY_FLOAT) == float_before + 45_000
    assert session.scalar(select(Repayment.id).where(Repayment.key == STK_OK)) is not None


class AnsweringProvider:
    """Answers an STK push with the fixture's CheckoutRequestID (like Daraja would)."""

    def __init__(self, push_answer: dict[str, Any]) -> None:
        from payments.providers.parsing import parse_stk_push_answer

        self.answer = parse_stk_push_answer(push_answer)

    def request_payment(self, **_: Any) -> Any:
        return self.answer


def test_a_result_that_overtakes_the_push_answer_is_applied_once_the_id_is_stored(
    client, session, worker, books, fixture_payload, active_loan
) -> None:
    from payments import outbound
    from payments.factory import using_provider

    intent = repayment_intent(session, active_loan, 45_000)
    session.commit()
    item = session.scalar(select(OutboxItem).where(OutboxItem.key == f"stk:{intent.id}"))
    # The callback arrives first and is processed while the intent has no checkout id yet.
    post(client, "stk", fixture_payload("daraja_stk_callback_success.json"))
    (row,) = books.inbox(STK_OK)
    assert processing.process_callback(row.id) == "waiting"
    assert books.intent(intent.id).status == "pending"
    # Then the push answer is stored: the early callback is processed right after commit.
    provider = AnsweringProvider(fixture_payload("daraja_stk_push_response.json"))
    with using_provider(provider):  # type: ignore[arg-type]
        assert item is not None
        outbound.send_stk_push(session, item)
        session.commit()
    worker.run()
    assert books.intent(intent.id).status == "succeeded"
    assert [r.status for r in books.inbox(STK_OK)] == ["processed"]
    assert session.scalar(select(Repayment.amount).where(Repayment.key == STK_OK)) == 45_000


def test_a_stk_query_answer_settles_like_a_callback(session, books, fixture_payload,
                                                    active_loan) -> None:
    from payments.outbound import settle_from_stk_query
    from payments.providers.parsing import parse_stk_query_answer

    intent = given_requested(session, repayment_intent(session, active_loan, 45_000),
                             checkout_request_id=STK_OK)
    answer = parse_stk_query_answer(fixture_payload("daraja_stk_query_response.json"))
    settle_from_stk_query(session, intent, answer)
    settle_from_stk_query(session, intent, answer)  # a second answer changes nothing
    session.commit()
    assert books.intent(intent.id).status == "succeeded"
    assert session.scalar(select(Repayment.amount).where(Repayment.key == STK_OK)) == 45_000


def test_a_deposit_credits_the_lenders_wallet(client, session, worker, books, fixture_payload,
                                              loans) -> None:
    lender = loans.member()
    intent = intents.request_deposit(session, member_id=lender.id, phone=lender.phone,
                                     amount=45_000, idempotency_key="dep-fixture")
    given_requested(session, intent, checkout_request_id=STK_OK)
    before = books.balance(lender_wallet(lender.id))
    post(client, "stk", fixture_payload("daraja_stk_callback_success.json"))
    worker.run()
    assert books.balance(lender_wallet(lender.id)) == before + 45_000


def test_an_unreadable_stored_callback_is_marked_failed(session, books) -> None:
    from payments.inbox import store_callback

    stored = store_callback(session, "stk", json.dumps({"Body": {"stkCallback": {
        "CheckoutRequestID": "ws_CO_x", "ResultCode": 0}}}), "127.0.0.1")
    assert processing.process_callback(stored.inbox_id) == "failed"
    (row,) = books.inbox()
    assert row.status == "failed" and "needs Amount" in (row.error or "")


def test_stuck_callbacks_are_requeued_by_the_sweeper(client, session, worker, books,
                                                     fixture_payload, redis, clock) -> None:
    post(client, "c2b/confirmation", fixture_payload("daraja_c2b_confirmation.json"))
    redis.flushdb()  # the processing job is lost with Redis
    assert worker.run() == 0
    clock.advance(seconds=61)
    assert processing.requeue_stuck() == 1
    worker.run()
    assert [row.status for row in books.inbox()] == ["break"]  # processed: unmatched
    assert utcnow() - books.inbox()[0].received_at >= timedelta(seconds=61)


def stk_then_c2b_of_the_same_receipt(fixture_payload: Any, checkout: str) -> tuple[Any, Any]:
    stk = fixture_payload("daraja_stk_callback_success.json")
    stk["Body"]["stkCallback"]["CheckoutRequestID"] = checkout
    c2b = {**fixture_payload("daraja_c2b_confirmation.json"), "TransID": "TKS8A1B2C3",
           "TransAmount": "450.00"}
    return stk, c2b


@pytest.mark.parametrize("c2b_first", [False, True])
def test_one_receipt_reported_by_stk_and_by_c2b_is_posted_once(
    client, session, worker, books, fixture_payload, active_loan, c2b_first
) -> None:
    active_loan.reference = "L1042"
    intent = given_requested(session, repayment_intent(session, active_loan, 45_000),
                             checkout_request_id=STK_OK)
    stk, c2b = stk_then_c2b_of_the_same_receipt(fixture_payload, STK_OK)
    float_before = books.balance(MOBILE_MONEY_FLOAT)
    for path, payload in ([("c2b/confirmation", c2b), ("stk", stk)] if c2b_first
                          else [("stk", stk), ("c2b/confirmation", c2b)]):
        post(client, path, payload)
        worker.run()
    assert books.balance(MOBILE_MONEY_FLOAT) == float_before + 45_000
    assert session.scalar(select(func.count(Repayment.id)).where(
        Repayment.loan_id == active_loan.id)) == 1
    assert books.intent(intent.id).status == "succeeded"
    assert books.breaks() == []
    books.assert_sound(against_simulator=False)


def test_a_callback_that_keeps_crashing_is_given_up_for_an_operator(
    session, books, monkeypatch
) -> None:
    from payments.inbox import store_callback

    stored = store_callback(session, "c2b_confirmation", json.dumps(
        {"TransID": "TKSPOISON1", "TransAmount": "10.00", "TransTime": "20261128101502",
         "BillRefNumber": "X"}), "127.0.0.1")

    def explode(*_: Any) -> None:
        raise RuntimeError("lending is down")

    monkeypatch.setitem(processing.ROUTES, "c2b_confirmation", explode)
    for _ in range(processing.MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            processing.process_callback(stored.inbox_id)
    (row,) = books.inbox("TKSPOISON1")
    assert (row.status, row.attempts) == ("failed", processing.MAX_ATTEMPTS)
    assert "lending is down" in (row.error or "")
