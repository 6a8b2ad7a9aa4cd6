"""Which loan a paybill payment is for: its BillRefNumber, as CONTRACT fixes it.

The account a borrower types is the loan reference we showed them (any case,
stray spaces) or their phone number, in which case their current loan is meant.
"""

from __future__ import annotations

import re

from sqlalchemy import bindparam, select
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
    return _by_phone(session, ref)


_REFERENCE = select(Loan.id, Loan.reference).where(Loan.reference == bindparam("ref"))


def match_loan_id(session: Session, bill_ref: str | None) -> tuple[int, str] | None:
    """`match_loan` as the loan's (id, reference) only: a paybill payment needs no more
    (the repayment reads the loan again under its lock), and no ORM object is built."""
    ref = normalize_reference(bill_ref)
    if not ref:
        return None
    row = session.connection().execute(_REFERENCE, {"ref": ref}).first()
    if row is not None:
        return int(row.id), str(row.reference)
    loan = _by_phone(session, ref)
    return (loan.id, loan.reference) if loan is not None else None


def _by_phone(session: Session, ref: str) -> Loan | None:
    if not re.fullmatch(r"\+?\d{9,15}", ref):
        return None
    member = find_member_by_phone(session, ref)
    if member is None:
        return None
    return current_loan(session, member.id, fundings=False)
