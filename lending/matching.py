"""Which loan a paybill payment is for: its BillRefNumber, as CONTRACT fixes it.

The account a borrower types is the loan reference we showed them (any case,
stray spaces) or their phone number, in which case their current loan is meant.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from lending.members import find_member_by_phone
from lending.models import Loan
from lending.queries import current_loan, loan_by_reference


def normalize_reference(bill_ref: str | None) -> str:
    """What the borrower typed, without case or spaces (`l 1042` → `L1042`)."""
    return re.sub(r"\s+", "", bill_ref or "").upper()


def match_loan(session: Session, bill_ref: str | None) -> Loan | None:
    """The loan a BillRefNumber names, by reference or by the borrower's phone; else None."""
    ref = normalize_reference(bill_ref)
    if not ref:
        return None
    loan = loan_by_reference(session, ref, schedule=False)
    if loan is not None:
        return loan
    if not re.fullmatch(r"\+?\d{9,15}", ref):
        return None
    member = find_member_by_phone(session, ref)
    if member is None:
        return None
    return current_loan(session, member.id, fundings=False)
