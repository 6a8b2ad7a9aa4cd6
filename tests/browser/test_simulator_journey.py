"""The whole loop in a browser: a new phone registers, borrows, is paid out and repays.

Headless Chromium drives the phone simulator page, which talks to the real
/ussd endpoint; the M-Pesa simulator posts real Daraja callbacks; jobs run in
an rq burst worker between steps, as a worker process would run them.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

import ledger
from ledger import MOBILE_MONEY_FLOAT, credit, debit, lender_wallet
from lending.applications import approve_loan
from lending.catalog import create_product
from lending.funding import fund_loan
from lending.members import become_lender, register_member, verify_member
from lending.models import FieldPartner, Loan, Member
from payments.providers import simulator

PIN = "2580"
MPESA_PIN = "1234"


class PhoneOnScreen:
    """The simulator page, used the way a person would use it."""

    def __init__(self, page: Any, worker: Any) -> None:
        self.page, self.worker = page, worker

    def screen(self) -> str:
        return self.page.get_by_test_id("screen").inner_text()

    def wait_for_screen(self, fragment: str) -> str:
        self.page.wait_for_function(
            "f => document.querySelector('[data-testid=screen]').innerText.includes(f)",
            arg=fragment, timeout=15_000)
        return self.screen()

    def dial(self, expect: str) -> str:
        self.page.get_by_test_id("dial").click()
        return self.wait_for_screen(expect)

    def answer(self, text: str, expect: str) -> str:
        self.page.get_by_test_id("reply").fill(text)
        self.page.get_by_test_id("send").click()
        return self.wait_for_screen(expect)

    def inbox_shows(self, fragment: str) -> None:
        self.worker.run()
        self.page.wait_for_function(
            "f => document.querySelector('[data-testid=inbox]').innerText.includes(f)",
            arg=fragment, timeout=15_000)


def set_up_partner_product_and_lender(db: Any) -> tuple[int, int]:
    with db.transaction() as s:
        partner = FieldPartner(name="Tujenge Microfinance", region="Nakuru", risk_rating=2)
        s.add(partner)
        create_product(s, {
            "code": "BIASHARA", "name": "Biashara", "currency": "KES", "min_amount": 100_000,
            "max_amount": 5_000_000, "terms": [4, 8], "frequency": "weekly",
            "interest_method": "flat", "interest_rate": "24", "upfront_fee_percent": "1"})
        lender = register_member(s, phone="+254700100201", first_name="Wanjiru",
                                 national_id="20000001", pin="2468", language="en",
                                 consent=True)
        s.flush()
        verify_member(s, lender.id, partner.id, "field-officer")
        become_lender(s, lender.id)
        ledger.post(s, "browser-deposit", "wallet_deposit", [
            debit(MOBILE_MONEY_FLOAT, 500_000), credit(lender_wallet(lender.id), 500_000)])
        return partner.id, lender.id


def test_a_new_phone_borrows_is_paid_out_and_repays(live_app, committed_db, browser_page,
                                                    worker, artifacts) -> None:
    partner_id, lender_id = set_up_partner_product_and_lender(committed_db)
    simulator.set_behaviour(None, prompt=True)
    page = browser_page
    page.goto(live_app.config["LIVE_URL"] + "/simulator")
    page.get_by_test_id("phone-select").select_option(label="New number")
    phone_number = page.get_by_test_id("phone-number").inner_text()
    phone = PhoneOnScreen(page, worker)

    # Register.
    phone.dial("1 Register")
    phone.answer("1", "full name")
    phone.answer("Neema Wambui", "national ID")
    phone.answer("31234567", "4-digit PIN")
    phone.answer(PIN, "same PIN again")
    phone.answer(PIN, "language")
    phone.answer("1", "I agree")
    phone.answer("1", "Thank you Neema")
    phone.inbox_shows("welcome to Mkopo")

    # The field partner verifies her.
    with committed_db.transaction() as s:
        member = s.scalar(select(Member).where(Member.phone == phone_number))
        verify_member(s, member.id, partner_id, "field-officer")

    # Apply for KES 1,500 over 4 weeks and read the cost before accepting.
    phone.dial("Apply for a loan")
    phone.answer("2", "Choose a loan")
    phone.answer("1", "Enter amount")
    phone.answer("1500", "How many payments")
    phone.answer("1", "What is the loan for")
    disclosure = phone.answer("1", "Total to repay")
    assert "KES 1,527.69" in disclosure and "APR" in disclosure
    phone.answer("1", "Enter your PIN")
    done = phone.answer(PIN, "Loan reference")
    reference = re.search(r"MK[0-9A-Z]+", done).group(0)

    # Approved by the field partner, funded by the lender; the worker pays it out.
    with committed_db.transaction() as s:
        loan = s.scalar(select(Loan).where(Loan.reference == reference))
        approve_loan(s, loan.id, actor="field-officer")
        fund_loan(s, loan_id=loan.id, lender_id=lender_id, shares=15,
                  idempotency_key="browser-fund")
    for _ in range(4):
        worker.run()
    phone.inbox_shows("sent to your M-Pesa")

    # Repay the first installment with the M-Pesa prompt.
    phone.dial("Repay loan")
    phone.answer("3", "Next installment")
    phone.answer("1", "PIN")
    phone.answer(PIN, "Pay KES 382")
    phone.answer("1", "M-Pesa prompt")
    worker.run()
    page.get_by_test_id("mpesa-prompt").wait_for(state="visible", timeout=15_000)
    page.get_by_test_id("mpesa-pin").fill(MPESA_PIN)
    page.get_by_test_id("mpesa-ok").click()
    page.get_by_test_id("mpesa-prompt").wait_for(state="hidden", timeout=15_000)
    for _ in range(3):
        worker.run()
    phone.inbox_shows("Received KES 382")

    phone.dial("My balance")
    phone.answer("1", "PIN")
    balance = phone.answer(PIN, "Outstanding")
    assert "KES 1,145.69" in balance  # 1,527.69 - 382.00
    page.screenshot(path=str(artifacts / "simulator-journey.png"), full_page=True)

    with committed_db.transaction() as s:
        assert ledger.verify(s).ok
        assert ledger.balance(s, lender_wallet(lender_id)) > 500_000 - 150_000
        assert s.scalar(select(Loan.status).where(Loan.reference == reference)) == "active"

