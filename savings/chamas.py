"""Chamas: savings groups with a contribution schedule and a rotating payout (merry-go-round).

Round r runs for one period from `start_date + (r-1)` periods. Contributions
paid while round r is open count for round r (`transfers._deposit_paid` reads
`current_round` under the chama's row lock). When round r ends, its pot (what
was contributed for it) is paid out to the round's recipients by B2C, split
between them by largest remainder when a round has more than one recipient,
and the chama moves on to round r+1. The order is the members' positions:
round r pays positions ((r-1) mod L)·p + 1 … + p, with p payouts per round and
L = ceil(n / p) rounds per cycle, so each member is paid once per cycle.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.money import allocate
from lending.models import MEMBER_ACTIVE, Member
from lending.schedule import due_date
from payments.models import SUCCEEDED, PaymentIntent
from savings.errors import SavingsError
from savings.models import (
    CHAMA_FREQUENCIES,
    CONTRIBUTION,
    FAILED,
    PAID,
    PAYING,
    Chama,
    ChamaMember,
    ChamaPayout,
    SavingsTransfer,
)
from savings.transfers import lock_chama, request_round_payout

logger = logging.getLogger(__name__)

MAX_MEMBERS = 30
NAME_MAX = 40
MAX_CONTRIBUTION = 15_000_000  # one M-Pesa transaction


# --- the rotation, as pure functions ---------------------------------------------------------


def rounds_per_cycle(members: int, payouts_per_round: int) -> int:
    return -(-members // payouts_per_round)


def recipients(positions: int, payouts_per_round: int, round_: int) -> list[int]:
    """The positions (1-based) paid in round `round_` (1-based)."""
    cycle = rounds_per_cycle(positions, payouts_per_round)
    first = ((round_ - 1) % cycle) * payouts_per_round + 1
    return list(range(first, min(first + payouts_per_round, positions + 1)))


def split_pot(pot: int, shares: int) -> list[int]:
    """A round's pot in equal shares by largest remainder; the parts sum to the pot exactly."""
    if pot == 0:
        return [0] * shares
    return allocate(pot, [1] * shares)


def round_end(chama: Chama, round_: int) -> date:
    """The day round `round_` closes and its pot is paid out."""
    return due_date(chama.start_date, chama.frequency, round_)


# --- creating a chama ------------------------------------------------------------------------


def create_chama(session: Session, *, name: str, contribution: int, frequency: str,
                 start_date: date, member_ids: list[int], payouts_per_round: int = 1,
                 field_partner_id: int | None = None, actor: str = "") -> Chama:
    """A chama with its members in payout order (the order given)."""
    clean = " ".join(name.split())[:NAME_MAX]
    if not clean:
        raise SavingsError("invalid_name", "a chama needs a name", "name")
    if isinstance(contribution, bool) or not isinstance(contribution, int) or not (
            1_000 <= contribution <= MAX_CONTRIBUTION) or contribution % 100:
        raise SavingsError("invalid_amount", "whole shillings from KES 10 to KES 150,000",
                           "contribution")
    if frequency not in CHAMA_FREQUENCIES:
        raise SavingsError("invalid_frequency", "weekly or monthly", "frequency")
    if len(set(member_ids)) != len(member_ids) or not 2 <= len(member_ids) <= MAX_MEMBERS:
        raise SavingsError("invalid_members", f"2 to {MAX_MEMBERS} different members",
                           "member_ids")
    if isinstance(payouts_per_round, bool) or not isinstance(payouts_per_round, int) or not (
            1 <= payouts_per_round < len(member_ids)):
        raise SavingsError("invalid_payouts_per_round", "fewer than the members",
                           "payouts_per_round")
    members = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(member_ids)))}
    if set(members) != set(member_ids) or any(m.status != MEMBER_ACTIVE
                                              for m in members.values()):
        raise SavingsError("invalid_members", "every member must exist and be active",
                           "member_ids")
    if field_partner_id is not None and any(m.field_partner_id != field_partner_id
                                            for m in members.values()):
        raise SavingsError("invalid_members", "members of your own borrowers only",
                           "member_ids")
    chama = Chama(code=_new_code(session), name=clean, contribution=contribution,
                  frequency=frequency, start_date=start_date, payouts_per_round=payouts_per_round,
                  current_round=1, field_partner_id=field_partner_id, created_by=actor[:80])
    session.add(chama)
    session.flush()
    for position, member_id in enumerate(member_ids, 1):
        session.add(ChamaMember(chama_id=chama.id, member_id=member_id, position=position))
    session.flush()
    return chama


def _new_code(session: Session) -> str:
    """A short code members quote (e.g. on the M-Pesa prompt): CH + 6 digits, unused."""
    while True:
        code = f"CH{secrets.randbelow(900_000) + 100_000}"
        if session.scalar(select(Chama.id).where(Chama.code == code)) is None:
            return code


# --- reading ---------------------------------------------------------------------------------


def chamas_of(session: Session, member_id: int) -> list[Chama]:
    return list(session.scalars(select(Chama).join(ChamaMember, ChamaMember.chama_id == Chama.id)
                                .where(ChamaMember.member_id == member_id).order_by(Chama.id)))


def members_in_order(session: Session, chama_id: int) -> list[tuple[int, Member]]:
    rows = session.execute(select(ChamaMember.position, Member)
                           .join(Member, Member.id == ChamaMember.member_id)
                           .where(ChamaMember.chama_id == chama_id)
                           .order_by(ChamaMember.position)).all()
    return [(position, member) for position, member in rows]


def pot(session: Session, chama_id: int, round_: int) -> int:
    """What was contributed (and paid) for a round."""
    total = session.scalar(
        select(func.coalesce(func.sum(SavingsTransfer.amount), 0))
        .join(PaymentIntent, PaymentIntent.id == SavingsTransfer.intent_id)
        .where(SavingsTransfer.chama_id == chama_id, SavingsTransfer.kind == CONTRIBUTION,
               SavingsTransfer.round == round_, PaymentIntent.status == SUCCEEDED))
    return int(total or 0)


def contributed(session: Session, chama_id: int, member_id: int,
                round_: int | None = None) -> int:
    """What a member has paid into the chama (in one round, or in all)."""
    query = (select(func.coalesce(func.sum(SavingsTransfer.amount), 0))
             .join(PaymentIntent, PaymentIntent.id == SavingsTransfer.intent_id)
             .where(SavingsTransfer.chama_id == chama_id, SavingsTransfer.member_id == member_id,
                    SavingsTransfer.kind == CONTRIBUTION, PaymentIntent.status == SUCCEEDED))
    if round_ is not None:
        query = query.where(SavingsTransfer.round == round_)
    return int(session.scalar(query) or 0)


@dataclass(frozen=True, slots=True)
class ChamaSummary:
    """A chama as a member (USSD, SMS) or an operator sees it."""

    id: int
    code: str
    name: str
    contribution: int
    frequency: str
    members: int
    round: int
    round_ends: date
    pot: int
    next_recipients: list[str]  # first names of the open round's recipients
    currency: str = "KES"


def summary(session: Session, chama: Chama) -> ChamaSummary:
    ordered = members_in_order(session, chama.id)
    paid_to = recipients(len(ordered), chama.payouts_per_round, chama.current_round)
    names = [member.first_name for position, member in ordered if position in paid_to]
    return ChamaSummary(chama.id, chama.code, chama.name, chama.contribution, chama.frequency,
                        len(ordered), chama.current_round, round_end(chama, chama.current_round),
                        pot(session, chama.id, chama.current_round), names, chama.currency)


# --- paying rounds out -----------------------------------------------------------------------


def close_round(session: Session, chama_id: int, on: date) -> list[ChamaPayout]:
    """Pay out the open round if it has ended by `on`, and open the next; once per round.

    Runs under the chama's row lock, so a contribution settling at the same moment
    counts either for this round (before) or for the next (after), never half.
    """
    chama = lock_chama(session, chama_id)
    round_ = chama.current_round
    if round_end(chama, round_) > on:
        return []
    ordered = members_in_order(session, chama.id)
    positions = recipients(len(ordered), chama.payouts_per_round, round_)
    by_position = dict(ordered)
    shares = split_pot(pot(session, chama.id, round_), len(positions))
    payouts = []
    for position, amount in zip(positions, shares, strict=True):
        member = by_position[position]
        payout = ChamaPayout(chama_id=chama.id, round=round_, member_id=member.id,
                             amount=amount, status=PAID if amount == 0 else PAYING, attempts=1)
        session.add(payout)
        session.flush()
        if amount:
            request_round_payout(session, payout, chama, member.phone)
        payouts.append(payout)
    chama.current_round = round_ + 1
    logger.info("chama %s round %s closed: %s payouts", chama.id, round_, len(payouts))
    return payouts


def retry_failed_payouts(session: Session, chama_id: int) -> list[ChamaPayout]:
    """Send again the payouts whose B2C failed (the money went back to the pool)."""
    chama = lock_chama(session, chama_id)
    failed = list(session.scalars(select(ChamaPayout).where(
        ChamaPayout.chama_id == chama_id, ChamaPayout.status == FAILED)))
    for payout in failed:
        member = session.get(Member, payout.member_id)
        assert member is not None
        payout.attempts += 1
        payout.status = PAYING
        request_round_payout(session, payout, chama, member.phone)
    return failed


def close_due_rounds(session: Session, on: date) -> int:
    """Close every chama round that has ended by `on` (the daily job); returns rounds closed."""
    closed = 0
    for chama_id in session.scalars(select(Chama.id).order_by(Chama.id)):
        while True:
            with session.begin_nested():
                if not close_round(session, chama_id, on):
                    break
            closed += 1
    return closed
