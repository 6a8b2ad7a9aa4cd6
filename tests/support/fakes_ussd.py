"""An in-memory `BorrowerServices`: the domain as the USSD menus expect it, for tests and load runs.

It records every effect so tests can assert "applied once", and follows the
port's rules: three wrong PINs lock for 30 minutes, idempotency keys dedupe,
refusals are `ServiceRefused(reason_code)`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from core.clock import utcnow
from menus.ports import (
    ACTIVE,
    PENDING,
    BalanceView,
    HelpView,
    MemberView,
    PinResult,
    ProductView,
    QuoteView,
    RepayView,
    ServiceRefused,
    StatementLine,
)

LOCK_AFTER = 3
LOCK_FOR = timedelta(minutes=30)
DEMO_PIN = "1357"

PRODUCTS = (
    ProductView("BIZ", "Biashara", 100_000, 2_000_000, (4, 8, 12), "weekly"),
    ProductView("SCH", "School fees", 500_000, 5_000_000, (3, 6), "monthly"),
)


@dataclass
class FakeMember:
    view: MemberView
    phone: str
    national_id: str
    pin: str
    consent: bool = True
    failures: int = 0
    credit_limit: int = 1_000_000
    loan_reference: str | None = None
    outstanding: int = 0
    next_installment: int = 0
    loan_status: str = "active"


@dataclass
class FakeBorrowerServices:
    """The borrower domain in memory. `demo=True` makes every phone an active member."""

    demo: bool = False
    members: dict[str, FakeMember] = field(default_factory=dict)
    applications: list[dict[str, object]] = field(default_factory=list)
    repayments: list[dict[str, object]] = field(default_factory=list)
    tickets: list[dict[str, object]] = field(default_factory=list)
    statements: dict[int, list[StatementLine]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # method name -> reason code
    _keys: dict[str, str] = field(default_factory=dict)

    # -- setting the scene ------------------------------------------------------------------

    def add_member(
        self, phone: str, *, name: str = "Amina Wanjiru", pin: str = DEMO_PIN,
        language: str = "en", status: str = ACTIVE, loan: bool = True,
    ) -> FakeMember:
        """A member with (by default) an active loan."""
        member_id = len(self.members) + 1 if not self.demo else _demo_id(phone)
        view = MemberView(member_id, name.split()[0], language, status)
        member = FakeMember(view, phone, f"{20000000 + member_id}", pin)
        if loan:
            member.loan_reference = f"MK{member_id:05d}"
            member.outstanding, member.next_installment = 540_000, 135_000
        self.members[phone] = member
        return member

    def _by_id(self, member_id: int) -> FakeMember:
        for member in self.members.values():
            if member.view.id == member_id:
                return member
        if self.demo:  # a session that started on another worker process of a load run
            member = self.add_member(f"demo-{member_id}")
            member.view = replace(member.view, id=member_id)
            return member
        raise LookupError(member_id)

    def _check(self, method: str) -> None:
        self.calls.append(method)
        if method in self.refuse:
            raise ServiceRefused(self.refuse[method])

    # -- the port ---------------------------------------------------------------------------

    def find_member(self, phone: str) -> MemberView | None:
        self._check("find_member")
        if phone not in self.members and self.demo:
            self.add_member(phone)
        member = self.members.get(phone)
        return member.view if member else None

    def register(
        self, phone: str, name: str, national_id: str, pin: str, language: str, consent: bool
    ) -> MemberView:
        self._check("register")
        if phone in self.members:
            raise ServiceRefused("already_registered")
        if any(m.national_id == national_id for m in self.members.values()):
            raise ServiceRefused("id_in_use")
        member = self.add_member(phone, name=name, pin=pin, language=language, status=PENDING,
                                 loan=False)
        member.national_id, member.consent = national_id, consent
        return member.view

    def verify_pin(self, member_id: int, pin: str) -> PinResult:
        self._check("verify_pin")
        member = self._by_id(member_id)
        now = utcnow()
        locked = member.view.locked_until
        if locked is not None and locked > now:
            return PinResult(False, 0, locked)
        if pin == member.pin:
            member.failures = 0
            member.view = replace(member.view, locked_until=None)
            return PinResult(True, LOCK_AFTER)
        member.failures += 1
        if member.failures >= LOCK_AFTER:
            member.failures = 0
            member.view = replace(member.view, locked_until=now + LOCK_FOR)
            return PinResult(False, 0, member.view.locked_until)
        return PinResult(False, LOCK_AFTER - member.failures)

    def balance(self, member_id: int) -> BalanceView:
        self._check("balance")
        member = self._by_id(member_id)
        if member.loan_reference is None:
            return BalanceView(credit_limit=member.credit_limit)
        return BalanceView(
            credit_limit=member.credit_limit, loan_reference=member.loan_reference,
            loan_status=member.loan_status, outstanding=member.outstanding,
            next_due_date=date(2026, 3, 9), next_due_amount=member.next_installment,
        )

    def products(self, member_id: int) -> list[ProductView]:
        self._check("products")
        limit = self._by_id(member_id).credit_limit
        return [replace(p, max_amount=min(p.max_amount, limit)) for p in PRODUCTS
                if p.min_amount <= limit]

    def quote(self, member_id: int, product_code: str, amount: int, term: int) -> QuoteView:
        self._check("quote")
        product = next((p for p in PRODUCTS if p.code == product_code), None)
        if product is None:
            raise ServiceRefused("product_unavailable")
        if term not in product.terms:
            raise ServiceRefused("term_not_allowed")
        if amount > self._by_id(member_id).credit_limit:
            raise ServiceRefused("over_limit")
        interest = amount * 2 * term // 100  # 2% a period, flat: round numbers for tests
        total = amount + interest
        return QuoteView(amount, term, product.frequency, total // term, total, interest,
                         apr=f"{2 * {'weekly': 52, 'monthly': 12}[product.frequency] * 1.1:.1f}")

    def apply(
        self, member_id: int, product_code: str, amount: int, term: int, purpose: str,
        idempotency_key: str,
    ) -> str:
        self._check("apply")
        if idempotency_key in self._keys:
            return self._keys[idempotency_key]
        reference = f"MK{member_id:03d}{len(self.applications) + 1:02d}"
        self.applications.append({"member_id": member_id, "product": product_code,
                                  "amount": amount, "term": term, "purpose": purpose,
                                  "key": idempotency_key, "reference": reference})
        self._keys[idempotency_key] = reference
        return reference

    def repayment_options(self, member_id: int) -> RepayView:
        self._check("repayment_options")
        member = self._by_id(member_id)
        if member.loan_reference is None:
            raise ServiceRefused("no_active_loan")
        return RepayView(member.loan_reference, member.next_installment, member.outstanding)

    def request_repayment(self, member_id: int, amount: int, idempotency_key: str) -> None:
        self._check("request_repayment")
        if idempotency_key in self._keys:
            return
        if amount > self._by_id(member_id).outstanding:
            raise ServiceRefused("amount_too_high")
        self.repayments.append({"member_id": member_id, "amount": amount,
                                "key": idempotency_key})
        self._keys[idempotency_key] = "requested"

    def statement(self, member_id: int, limit: int = 5) -> list[StatementLine]:
        self._check("statement")
        if member_id in self.statements:
            return self.statements[member_id][:limit]
        day = date(2026, 3, 1)
        lines = [StatementLine(day - timedelta(days=7 * i), "repayment", 135_000,
                               f"QK{i}T7XY2B") for i in range(4)]
        lines.append(StatementLine(day - timedelta(days=30), "disbursement", 500_000, "MK00001"))
        return lines[:limit]

    def change_pin(self, member_id: int, current_pin: str, new_pin: str) -> PinResult:
        self._check("change_pin")
        result = self.verify_pin(member_id, current_pin)
        if result.ok:
            self._by_id(member_id).pin = new_pin
        return result

    def set_language(self, member_id: int, language: str) -> None:
        self._check("set_language")
        member = self._by_id(member_id)
        member.view = replace(member.view, language=language)

    def set_reminders(self, member_id: int, preference: str) -> None:
        self._check("set_reminders")
        member = self._by_id(member_id)
        member.view = replace(member.view, reminders=preference)

    def open_ticket(self, member_id: int, kind: str, text: str) -> str:
        self._check("open_ticket")
        reference = f"T{len(self.tickets) + 1:04d}"
        self.tickets.append({"member_id": member_id, "kind": kind, "text": text,
                             "reference": reference})
        return reference

    def help_info(self, member_id: int | None) -> HelpView:
        self._check("help_info")
        account = ""
        if member_id is not None:
            member = self._by_id(member_id)
            account = member.loan_reference or member.phone
        return HelpView("600100", account, "0800 720 000")


def _demo_id(phone: str) -> int:
    """The same id for a phone in every process, so load runs can hop between workers."""
    return zlib.crc32(phone.encode()) % 10_000_000 + 1


def lock(member: FakeMember, until: datetime) -> None:
    """Put a member's PIN under lock (as if three wrong PINs came earlier)."""
    member.view = replace(member.view, locked_until=until)
