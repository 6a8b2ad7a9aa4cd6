"""Auto-lending: a lender's idle wallet money funds matching loans, fairly and within limits.

Fairness rule (documented in docs/lenders.md): the matching fundraising loans
are ordered closest to fully funded first (least money still to raise), then
oldest first (id), and the lenders by member id. Money is handed out one share
at a time, round-robin: in each round every lender (starting one further along
each round) offers one share to every loan in that order, until no lender can
afford another share, no loan needs one, or every lender's per-loan cap is met.
The plan is pure (`plan_allocations`); `run_autolend` executes it through
`fund_loan`, which takes the loan's row lock and never overfunds.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

import ledger
from core import outbox, runtime
from core.clock import utcnow
from core.db import Base, BigId, MinorUnits, Timestamp, intpk
from core.jobs import enqueue_quietly
from core.money import format_money
from ledger import LedgerError, lender_wallet
from lending.errors import LendingError
from lending.funding import fund_loan, shares_left
from lending.models import FUNDRAISING, FieldPartner, Loan, LoanFunding, Member

logger = logging.getLogger(__name__)

DEFAULT_MAX_PER_LOAN = 100_000  # KES 1,000: a sensible first cap, spread over ten loans per 10k


class AutolendSettings(Base):
    """A lender's opt-in criteria and limits for auto-lending."""

    __tablename__ = "autolend_settings"

    lender_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    sectors: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: any sector
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: any region
    women_only: Mapped[bool] = mapped_column(Boolean, default=False)
    max_per_loan: Mapped[MinorUnits] = mapped_column(default=DEFAULT_MAX_PER_LOAN)
    max_risk_rating: Mapped[int | None]  # None: any field partner, or none at all
    reserve: Mapped[MinorUnits] = mapped_column(default=0)  # idle money kept in the wallet
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class AutolendAllocation(Base):
    """One funding made by auto-lending, and why."""

    __tablename__ = "autolend_allocations"
    __table_args__ = (UniqueConstraint("funding_id"),)

    id: Mapped[intpk]
    lender_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    loan_id: Mapped[int] = mapped_column(BigId, ForeignKey("loans.id"), index=True)
    funding_id: Mapped[int] = mapped_column(BigId, ForeignKey("loan_fundings.id"))
    shares: Mapped[int]
    amount: Mapped[MinorUnits]
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


# --- criteria --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Criteria:
    """What a lender asks of a loan, and how much they will put in it."""

    sectors: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    women_only: bool = False
    max_per_loan: int = DEFAULT_MAX_PER_LOAN
    max_risk_rating: int | None = None
    reserve: int = 0

    @classmethod
    def of(cls, row: AutolendSettings) -> Criteria:
        return cls(sectors=tuple(row.sectors or ()), regions=tuple(row.regions or ()),
                   women_only=row.women_only, max_per_loan=row.max_per_loan,
                   max_risk_rating=row.max_risk_rating, reserve=row.reserve)


@dataclass(frozen=True, slots=True)
class LoanFacts:
    """What the criteria look at in a loan."""

    loan_id: int
    borrower_id: int
    sector: str | None
    region: str | None
    gender: str | None
    risk_rating: int | None


def match_reasons(criteria: Criteria, loan: LoanFacts) -> list[str] | None:
    """Why the loan matches (the statement shows this), or None when it does not."""
    reasons: list[str] = []
    if criteria.sectors:
        if loan.sector not in criteria.sectors:
            return None
        reasons.append(f"sector {loan.sector}")
    if criteria.regions:
        if loan.region not in criteria.regions:
            return None
        reasons.append(f"region {loan.region}")
    if criteria.women_only:
        if loan.gender != "f":
            return None
        reasons.append("woman-led")
    if criteria.max_risk_rating is not None:
        # A loan without a field partner has no rating: a lender who set a ceiling skips it.
        if loan.risk_rating is None or loan.risk_rating > criteria.max_risk_rating:
            return None
        reasons.append(f"partner risk {loan.risk_rating}<={criteria.max_risk_rating}")
    return reasons or ["any loan"]


# --- the pure plan ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LenderBudget:
    """A lender's money to place now and how much more each loan may take from them."""

    lender_id: int
    idle: int
    room: dict[int, int] = field(default_factory=dict)  # loan id -> money below the cap


@dataclass(frozen=True, slots=True)
class LoanSlot:
    """A loan's share price (the full unit) and how many shares it still needs."""

    loan_id: int
    share_price: int
    shares_left: int


def plan_allocations(
    lenders: Sequence[LenderBudget], loans: Sequence[LoanSlot],
    matches: Callable[[int, int], bool],
) -> dict[tuple[int, int], int]:
    """Shares per (lender id, loan id), handed out one at a time round-robin (module doc)."""
    idle = {b.lender_id: b.idle for b in lenders}
    room = {(b.lender_id, loan_id): r for b in lenders for loan_id, r in b.room.items()}
    left = {s.loan_id: s.shares_left for s in loans}
    shares: dict[tuple[int, int], int] = defaultdict(int)
    order = [b.lender_id for b in lenders]
    for round_no in range(max((s.shares_left for s in loans), default=0)):
        progress = False
        start = round_no % len(order) if order else 0
        for lender_id in order[start:] + order[:start]:
            for slot in loans:
                pair = (lender_id, slot.loan_id)
                price = slot.share_price
                if (left[slot.loan_id] > 0 and idle[lender_id] >= price
                        and room.get(pair, 0) >= price and matches(*pair)):
                    shares[pair] += 1
                    left[slot.loan_id] -= 1
                    idle[lender_id] -= price
                    room[pair] -= price
                    progress = True
        if not progress:
            break
    return dict(shares)


# --- reading the database ------------------------------------------------------------


def get_settings(session: Session, lender_id: int) -> AutolendSettings | None:
    return session.get(AutolendSettings, lender_id)


def save_settings(session: Session, lender_id: int, values: dict[str, Any]) -> AutolendSettings:
    """Create or replace a lender's auto-lend settings (already validated)."""
    member = session.get(Member, lender_id)
    if member is None or not member.is_lender:
        raise LendingError("unknown_lender", f"no lender {lender_id}")
    row = session.get(AutolendSettings, lender_id)
    if row is None:
        row = AutolendSettings(lender_id=lender_id)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    return row


def _locked_settings(session: Session, lender_id: int | None) -> list[AutolendSettings]:
    """Opted-in lenders' settings, row-locked in id order: one run per lender at a time."""
    query = (
        select(AutolendSettings)
        .join(Member, Member.id == AutolendSettings.lender_id)
        .where(AutolendSettings.enabled.is_(True), Member.is_lender.is_(True),
               Member.status == "active")
        .order_by(AutolendSettings.lender_id)
        .execution_options(populate_existing=True)
    )
    if lender_id is not None:
        query = query.where(AutolendSettings.lender_id == lender_id)
    query = query.with_for_update(of=AutolendSettings)
    return list(session.scalars(query))


def _open_loans(session: Session, loan_id: int | None) -> list[tuple[Loan, LoanFacts]]:
    """Fundraising loans with money still to raise, closest to fully funded first."""
    now = utcnow()
    query = (
        select(Loan, FieldPartner.risk_rating)
        .outerjoin(FieldPartner, FieldPartner.id == Loan.field_partner_id)
        .where(Loan.status == FUNDRAISING, Loan.funded_amount < Loan.amount)
        .where((Loan.fundraising_deadline.is_(None)) | (Loan.fundraising_deadline > now))
        .order_by((Loan.amount - Loan.funded_amount), Loan.id)
    )
    if loan_id is not None:
        query = query.where(Loan.id == loan_id)
    return [(loan, _facts(loan, rating)) for loan, rating in session.execute(query)]


def _facts(loan: Loan, rating: int | None) -> LoanFacts:
    borrower = loan.borrower
    return LoanFacts(loan_id=loan.id, borrower_id=loan.borrower_id,
                     sector=loan.sector or borrower.sector, region=borrower.region,
                     gender=borrower.gender, risk_rating=rating)


def _held(
    session: Session, lender_ids: list[int], loan_ids: list[int]
) -> dict[tuple[int, int], int]:
    """What each lender already has in each loan (refunded stakes do not count)."""
    if not lender_ids or not loan_ids:
        return {}
    rows = session.execute(
        select(LoanFunding.lender_id, LoanFunding.loan_id, func.sum(LoanFunding.amount))
        .where(LoanFunding.lender_id.in_(lender_ids), LoanFunding.loan_id.in_(loan_ids),
               LoanFunding.refunded_at.is_(None))
        .group_by(LoanFunding.lender_id, LoanFunding.loan_id)
    )
    return {(lender, loan): int(total) for lender, loan, total in rows}


def share_slot(loan: Loan) -> LoanSlot:
    """The shares still open on a loan, each budgeted at a full share unit.

    The last share may cost less (`fund_loan` charges at most what is left); budgeting
    it at the full unit keeps every lender within their money and cap whichever
    lender ends up holding it.
    """
    return LoanSlot(loan.id, loan.product.share_unit, shares_left(loan))


# --- running ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    criteria: dict[int, Criteria]
    loans: dict[int, LoanFacts]
    reasons: dict[tuple[int, int], list[str]]


def run_autolend(
    session: Session, *, lender_id: int | None = None, loan_id: int | None = None
) -> list[AutolendAllocation]:
    """Place opted-in lenders' idle money in matching loans; the caller commits."""
    settings = _locked_settings(session, lender_id)
    loans = _open_loans(session, loan_id)
    if not settings or not loans:
        return []
    context = _context(settings, loans)
    budgets = _budgets(session, context)
    plan = plan_allocations(budgets, [share_slot(loan) for loan, _ in loans],
                            lambda lender, loan: (lender, loan) in context.reasons)
    by_id = {loan.id: loan for loan, _ in loans}
    allocations = []
    # Loans are locked in id order, the same in every run, so two runs never deadlock.
    for (lender, loan), shares in sorted(plan.items(), key=lambda item: (item[0][1], item[0][0])):
        made = _allocate(session, by_id[loan], lender, shares, context)
        if made is not None:
            allocations.append(made)
    return allocations


def _context(settings: list[AutolendSettings], loans: list[tuple[Loan, LoanFacts]]) -> _Context:
    criteria = {row.lender_id: Criteria.of(row) for row in settings}
    facts = {f.loan_id: f for _, f in loans}
    reasons = {}
    for lender, wanted in criteria.items():
        for fact in facts.values():
            why = None if fact.borrower_id == lender else match_reasons(wanted, fact)
            if why is not None:
                reasons[(lender, fact.loan_id)] = why
    return _Context(criteria, facts, reasons)


def _budgets(session: Session, context: _Context) -> list[LenderBudget]:
    lender_ids, loan_ids = list(context.criteria), list(context.loans)
    held = _held(session, lender_ids, loan_ids)
    budgets = []
    for lender in lender_ids:
        wanted = context.criteria[lender]
        idle = max(0, ledger.balance(session, lender_wallet(lender)) - wanted.reserve)
        room = {loan: max(0, wanted.max_per_loan - held.get((lender, loan), 0))
                for loan in loan_ids}
        budgets.append(LenderBudget(lender, idle, room))
    return budgets


def _allocate(session: Session, loan: Loan, lender_id: int, shares: int,
              context: _Context) -> AutolendAllocation | None:
    """Fund one planned (lender, loan) pair; a refusal skips it and changes nothing."""
    held = _held(session, [lender_id], [loan.id]).get((lender_id, loan.id), 0)
    key = f"autolend:{lender_id}:{loan.id}:{held}:{shares}"
    try:
        with session.begin_nested():
            funding = fund_loan(session, loan_id=loan.id, lender_id=lender_id, shares=shares,
                                idempotency_key=key)
            allocation = AutolendAllocation(
                lender_id=lender_id, loan_id=loan.id, funding_id=funding.id,
                shares=funding.shares, amount=funding.amount, created_at=utcnow(),
                reason=_reason(context, lender_id, loan, funding.amount),
            )
            session.add(allocation)
            session.flush()
    except (LendingError, LedgerError) as exc:
        # The wallet or the loan moved since we planned (a manual funding, a withdrawal):
        # the next run sees the new state; nothing from this attempt is kept.
        logger.info("autolend skipped lender %s loan %s: %s", lender_id, loan.id, exc)
        return None
    return allocation


def _reason(context: _Context, lender_id: int, loan: Loan, amount: int) -> str:
    wanted = context.criteria[lender_id]
    why = ", ".join(context.reasons[(lender_id, loan.id)])
    cap = format_money(wanted.max_per_loan, loan.currency)
    text = (f"Auto-lent {format_money(amount, loan.currency)} to {loan.reference}: {why}; "
            f"cap {cap} per loan; closest-to-funded first, one share at a time")
    return text[:300]


def allocations_for(session: Session, lender_id: int) -> list[AutolendAllocation]:
    """Every auto-lend allocation of a lender, newest first."""
    return list(session.scalars(
        select(AutolendAllocation).where(AutolendAllocation.lender_id == lender_id)
        .order_by(AutolendAllocation.id.desc())
    ))


# --- jobs ------------------------------------------------------------------------------


def autolend_job(lender_id: int | None = None, loan_id: int | None = None) -> int:
    """rq entry point: one unit of work; returns how many allocations were made."""
    with runtime.current().db.transaction() as session:
        return len(run_autolend(session, lender_id=lender_id, loan_id=loan_id))


AUTOLEND_KIND = "lending.autolend"


def request_autolend(session: Session, *, key: str, lender_id: int | None = None,
                     loan_id: int | None = None) -> None:
    """Ask for an auto-lending run once this transaction commits (money idle, loan open)."""
    outbox.add(session, AUTOLEND_KIND, key, {"lender_id": lender_id, "loan_id": loan_id})


def run_requested(session: Session, item: Any) -> None:
    """Carry out one requested auto-lending run (the outbox handler of AUTOLEND_KIND)."""
    run_autolend(session, lender_id=item.payload.get("lender_id"),
                 loan_id=item.payload.get("loan_id"))


def enqueue_autolend(*, lender_id: int | None = None, loan_id: int | None = None) -> None:
    """Ask a worker to auto-lend soon (after a deposit, a repayment, a new fundraising loan).

    Call it after the commit that made the money idle or the loan open; the job id
    folds repeated requests for the same lender or loan into one waiting job.
    """
    job_id = f"autolend-{lender_id or 'all'}-{loan_id or 'all'}"
    enqueue_quietly(autolend_job, lender_id=lender_id, loan_id=loan_id, job_id=job_id)


def last_run_at(session: Session, lender_id: int) -> datetime | None:
    """When auto-lending last placed money for this lender."""
    return session.scalar(select(func.max(AutolendAllocation.created_at))
                          .where(AutolendAllocation.lender_id == lender_id))


# --- validating settings -------------------------------------------------------------------

MAX_LIST = 20


def validate_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Settings from an outside request, checked; LendingError names the first bad field."""
    values = {
        "enabled": _flag(data, "enabled", required=True),
        "sectors": _names(data, "sectors"),
        "regions": _names(data, "regions"),
        "women_only": _flag(data, "women_only"),
        "max_per_loan": _amount(data, "max_per_loan", DEFAULT_MAX_PER_LOAN, minimum=1),
        "max_risk_rating": _rating(data.get("max_risk_rating")),
        "reserve": _amount(data, "reserve", 0, minimum=0),
    }
    unknown = sorted(set(data) - set(values))
    if unknown:
        raise LendingError("invalid_field", f"unknown field {unknown[0]}", field=unknown[0])
    return values


def _flag(data: dict[str, Any], name: str, *, required: bool = False) -> bool:
    value = data.get(name, None if required else False)
    if not isinstance(value, bool):
        raise LendingError(f"invalid_{name}", "must be true or false", field=name)
    return value


def _names(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name, [])
    if (not isinstance(value, list) or len(value) > MAX_LIST
            or not all(isinstance(v, str) and 0 < len(v.strip()) <= 60 for v in value)):
        raise LendingError(f"invalid_{name}", f"a list of up to {MAX_LIST} names", field=name)
    return sorted({v.strip() for v in value})


def _amount(data: dict[str, Any], name: str, default: int, *, minimum: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LendingError(f"invalid_{name}", f"whole minor units, at least {minimum}",
                           field=name)
    return value


def _rating(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise LendingError("invalid_max_risk_rating", "a rating from 1 to 5, or null",
                           field="max_risk_rating")
    return value


def settings_json(lender_id: int, row: AutolendSettings | None) -> dict[str, Any]:
    """A lender's settings as the API shows them (defaults when never set)."""
    criteria = Criteria.of(row) if row is not None else Criteria()
    return {"lender_id": lender_id, "enabled": bool(row and row.enabled),
            "sectors": list(criteria.sectors), "regions": list(criteria.regions),
            "women_only": criteria.women_only, "max_per_loan": criteria.max_per_loan,
            "max_risk_rating": criteria.max_risk_rating, "reserve": criteria.reserve}

