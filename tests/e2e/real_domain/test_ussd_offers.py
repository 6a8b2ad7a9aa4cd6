"""USSD offers what the lending domain allows: one rule for the menu and the application."""

from test_ussd_real_domain import PIN, active_loan

from lending.members import register_member
from lending.models import Member


def borrower_with_an_active_loan(session, verify) -> Member:
    borrower = register_member(session, phone="+254722000111", first_name="Amina",
                               national_id="12345678", pin=PIN, language="en", consent=True)
    verify(borrower.id)
    active_loan(session, borrower.id)
    borrower.credit_limit = 1_000_000
    session.commit()
    return borrower


def test_a_product_allowing_two_loans_is_offered_beside_an_open_one(
    ussd, session, product, verify,
) -> None:
    product.max_active_loans = 2
    borrower_with_an_active_loan(session, verify)
    ussd.dial("2")
    ussd.expect("Biashara", end=False)
    assert "already have a loan" not in ussd.screen


def test_a_product_allowing_one_loan_asks_to_repay_first(ussd, session, product, verify) -> None:
    borrower_with_an_active_loan(session, verify)
    ussd.dial("2")
    ussd.expect("You already have a loan")
