"""Credit-life cover as lending sees it: where a premium goes, and who hears of new cover.

A loan whose product carries a credit-life premium has it deducted from the
payout; the premium is credited to the insurance pool in the disbursement's own
journal entry, so the payout, the fee and the premium are one movement. The
insurance package owns the pool and the policies; lending never imports it.
Instead insurance installs a `CoverPort` here (`insurance.wiring.install`, called by
`gateway.wiring.wire()` in every process).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ledger import AccountSpec
from lending.errors import LendingError

if TYPE_CHECKING:
    from lending.models import Loan


@dataclass(frozen=True)
class CoverPort:
    """The insurance side: its pool account and what to do once a covered loan is paid out."""

    pool: AccountSpec
    cover_started: Callable[[Session, Loan], object]


_port: CoverPort | None = None


def install(port: CoverPort) -> None:
    """Called by the insurance package at import; installing again replaces it."""
    global _port
    _port = port


def cover_port() -> CoverPort:
    """The installed port; a covered loan cannot be paid out without one."""
    if _port is None:
        raise LendingError("no_insurance", "credit-life cover needs the insurance package")
    return _port
