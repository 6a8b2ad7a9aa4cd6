"""The provider's own record: M-Pesa organisation statements, imported all or nothing.

An export is read as a stream, row by row. Every row is checked (dates,
amounts, receipts, column count) and every problem is reported with its line
number. Rows are written in batches inside a savepoint of the caller's
transaction; if any row is bad the savepoint is rolled back, so a statement is
either imported whole or not at all. A file is identified by its SHA-256: the
same file is never imported twice, and a receipt is unique across imports.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.clock import utcnow
from core.db import Base, BigId, MinorUnits, Timestamp, intpk

COMPLETED = "Completed"
BATCH_SIZE = 5_000
MAX_REPORTED_ERRORS = 500

# The export's header names (M-Pesa organisation portal, "Transaction Statement" CSV).
RECEIPT, COMPLETION, INITIATION, DETAILS = (
    "Receipt No.", "Completion Time", "Initiation Time", "Details")
STATUS, PAID_IN, WITHDRAWN, BALANCE = "Transaction Status", "Paid In", "Withdrawn", "Balance"
CONFIRMED, REASON, OTHER_PARTY = "Balance Confirmed", "Reason Type", "Other Party Info"
LINKED, ACCOUNT = "Linked Transaction ID", "A/C No."
REQUIRED_COLUMNS = (RECEIPT, COMPLETION, DETAILS, STATUS, PAID_IN, WITHDRAWN, BALANCE)

DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S",
                "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")
_AMOUNT = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?$")
_RECEIPT = re.compile(r"^[A-Z0-9]{6,40}$")
_ACCOUNT_IN_DETAILS = re.compile(r"\bAcc\.\s*(\S+)", re.IGNORECASE)
_MASKED_PHONE = re.compile(r"^(\d+)\*+(\d+)$")


class StatementImport(Base):
    """One imported statement file; its hash makes a second import of it impossible."""

    __tablename__ = "statement_imports"

    id: Mapped[intpk]
    file_name: Mapped[str] = mapped_column(String(255))
    file_hash: Mapped[str] = mapped_column(String(64), unique=True)
    line_count: Mapped[int]
    paid_in_total: Mapped[MinorUnits]
    withdrawn_total: Mapped[MinorUnits]
    first_at: Mapped[datetime | None]
    last_at: Mapped[datetime | None]
    first_epoch: Mapped[int | None] = mapped_column(BigInteger)
    last_epoch: Mapped[int | None] = mapped_column(BigInteger)
    imported_by: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[Timestamp]


class StatementLine(Base):
    """One row of a provider statement; `amount` is signed (paid in positive)."""

    __tablename__ = "statement_lines"
    id: Mapped[intpk]
    import_id: Mapped[int] = mapped_column(BigId, ForeignKey("statement_imports.id"), index=True)
    line_no: Mapped[int]
    receipt: Mapped[str] = mapped_column(String(40), unique=True)
    completed_at: Mapped[Timestamp]
    completed_epoch: Mapped[int] = mapped_column(BigInteger)
    initiated_at: Mapped[datetime | None]
    details: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(20))
    paid_in: Mapped[MinorUnits]
    withdrawn: Mapped[MinorUnits]
    amount: Mapped[MinorUnits]
    balance: Mapped[int | None] = mapped_column(BigInteger)
    balance_confirmed: Mapped[bool | None] = mapped_column(Boolean)
    reason_type: Mapped[str] = mapped_column(String(60), default="")
    other_party: Mapped[str] = mapped_column(String(160), default="")
    party_name: Mapped[str] = mapped_column(String(120), default="")
    party_phone: Mapped[str] = mapped_column(String(20), default="")
    phone_key: Mapped[str | None] = mapped_column(String(8))
    account_reference: Mapped[str] = mapped_column(String(40), default="")
    linked_receipt: Mapped[str] = mapped_column(String(40), default="")


# --- the report ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportReport:
    """What an import did: the new import's id, or every reason it refused the file."""

    file_name: str
    file_hash: str
    lines: int = 0
    import_id: int | None = None
    errors: list[LineError] = field(default_factory=list)
    error_count: int = 0
    paid_in_total: int = 0
    withdrawn_total: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and self.import_id is not None

    def add(self, line: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(LineError(line, message))


# --- parsing helpers -------------------------------------------------------------------


class RowError(ValueError):
    """A field of one row that cannot be read."""


def parse_amount(text: str, column: str) -> int:
    """`1,200.50` → 120050 minor units; blanks are 0; letters are refused."""
    value = text.strip()
    if not value:
        return 0
    if not _AMOUNT.match(value):
        raise RowError(f"{column} {value!r} is not an amount")
    minor = Decimal(value.replace(",", "")) * 100
    return int(minor)


def parse_time(text: str, column: str, tz: ZoneInfo) -> datetime:
    """A statement time (local to the provider) as an aware UTC datetime."""
    value = text.strip()
    for fmt in DATE_FORMATS:
        try:
            local = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return local.replace(tzinfo=tz).astimezone(UTC)
    raise RowError(f"{column} {value!r} is not a date and time (YYYY-MM-DD HH:MM:SS)")


def phone_key(number: str) -> str | None:
    """The comparable part of a phone number: its first five and last three digits.

    Statements mask the middle (`25471****101`); our records hold the whole
    number. Both reduce to the same eight characters, which a hash join can use.
    """
    text = number.strip().lstrip("+")
    masked = _MASKED_PHONE.match(text)
    if masked:
        head, tail = masked.groups()
        return head[:5] + tail[-3:] if len(head) >= 5 and len(tail) >= 3 else None
    digits = re.sub(r"\D", "", text)
    if digits.startswith("0") and len(digits) == 10:
        digits = "254" + digits[1:]  # a local Kenyan number
    return digits[:5] + digits[-3:] if len(digits) >= 9 else None


def split_other_party(text: str) -> tuple[str, str]:
    """`25471****101 - Grace` → (`25471****101`, `Grace`)."""
    number, _, name = text.partition(" - ")
    return number.strip(), name.strip()


def account_reference(row: Mapping[str, str]) -> str:
    """The bill reference the payer typed: the A/C column, else `Acc. …` in the details."""
    reference = (row.get(ACCOUNT) or "").strip()
    if not reference:
        found = _ACCOUNT_IN_DETAILS.search(row.get(DETAILS) or "")
        reference = found.group(1) if found else ""
    return reference.upper()[:40]


def _bool(text: str) -> bool | None:
    value = text.strip().lower()
    return {"true": True, "yes": True, "false": False, "no": False}.get(value)


def parse_row(row: Mapping[str, str], tz: ZoneInfo) -> dict[str, Any]:
    """One CSV row as statement_lines values; RowError names the first bad field."""
    receipt = (row.get(RECEIPT) or "").strip().upper()
    if not _RECEIPT.match(receipt):
        raise RowError(f"{RECEIPT} {receipt!r} is not a receipt number")
    completed = parse_time(row[COMPLETION], COMPLETION, tz)
    initiated_raw = (row.get(INITIATION) or "").strip()
    initiated = parse_time(initiated_raw, INITIATION, tz) if initiated_raw else None
    paid_in = parse_amount(row[PAID_IN], PAID_IN)
    withdrawn = abs(parse_amount(row[WITHDRAWN], WITHDRAWN))  # exports show it either sign
    if paid_in < 0:
        raise RowError(f"{PAID_IN} cannot be negative")
    if bool(paid_in) == bool(withdrawn):
        raise RowError(f"exactly one of {PAID_IN} and {WITHDRAWN} must be filled in")
    balance_raw = row[BALANCE].strip()
    number, name = split_other_party(row.get(OTHER_PARTY) or "")
    return {
        "receipt": receipt,
        "completed_at": completed,
        "completed_epoch": int(completed.timestamp()),
        "initiated_at": initiated,
        "details": (row.get(DETAILS) or "").strip()[:300],
        "status": (row.get(STATUS) or "").strip()[:20],
        "paid_in": paid_in,
        "withdrawn": withdrawn,
        "amount": paid_in - withdrawn,
        "balance": parse_amount(balance_raw, BALANCE) if balance_raw else None,
        "balance_confirmed": _bool(row.get(CONFIRMED) or ""),
        "reason_type": (row.get(REASON) or "").strip()[:60],
        "other_party": (row.get(OTHER_PARTY) or "").strip()[:160],
        "party_name": name[:120],
        "party_phone": number[:20],
        "phone_key": phone_key(number) if number else None,
        "account_reference": account_reference(row),
        "linked_receipt": (row.get(LINKED) or "").strip()[:40],
    }


# --- the import --------------------------------------------------------------------------


def file_digest(stream: IO[bytes]) -> str:
    """SHA-256 of the whole stream, read in chunks; the stream is rewound afterwards."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def find_import(session: Session, file_hash: str) -> StatementImport | None:
    return session.scalar(select(StatementImport).where(StatementImport.file_hash == file_hash))


def import_statement(
    session: Session, stream: IO[bytes], *, file_name: str, actor: str,
    tz: str = "Africa/Nairobi",
) -> ImportReport:
    """Import a statement export whole, or nothing with a report of every bad line.

    The caller owns the transaction: a successful import is flushed and waits
    for the caller's commit; a refused one leaves the session as it found it.
    """
    report = ImportReport(file_name=file_name, file_hash=file_digest(stream))
    earlier = find_import(session, report.file_hash)
    if earlier is not None:
        report.add(0, f"this file was imported before (import #{earlier.id})")
        return report
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        with session.begin_nested() as savepoint:
            record = _new_import(session, file_name, report.file_hash, actor)
            _load_rows(session, record, csv.reader(text), ZoneInfo(tz), report)
            if report.error_count:
                savepoint.rollback()
                return report
            _close_import(session, record, report)
    except UnicodeDecodeError:
        report.add(0, "the file is not UTF-8 text")
        return report
    finally:
        text.detach()  # the caller owns the stream: do not close it with the wrapper
    report.import_id = record.id
    return report


def _new_import(session: Session, file_name: str, file_hash: str, actor: str) -> StatementImport:
    record = StatementImport(
        file_name=file_name[:255], file_hash=file_hash, line_count=0, paid_in_total=0,
        withdrawn_total=0, imported_by=actor[:200], imported_at=utcnow(),
    )
    session.add(record)
    session.flush()
    return record


def _load_rows(session: Session, record: StatementImport, reader: Iterator[list[str]],
               tz: ZoneInfo, report: ImportReport) -> None:
    header = _read_header(reader, report)
    if header is None:
        return
    seen: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    for line_no, fields in enumerate(reader, start=2):
        if not any(cell.strip() for cell in fields):
            continue  # blank lines (a trailing newline) carry nothing
        values = _check_row(header, fields, line_no, tz, seen, report)
        if values is None or report.error_count:
            continue  # once anything is wrong, only keep checking
        values.update(import_id=record.id, line_no=line_no)
        batch.append(values)
        report.lines += 1
        report.paid_in_total += values["paid_in"]
        report.withdrawn_total += values["withdrawn"]
        if len(batch) >= BATCH_SIZE:
            _write_batch(session, batch, report)
            batch = []
    if batch and not report.error_count:
        _write_batch(session, batch, report)
    if not report.lines and not report.error_count:
        report.add(2, "the statement has no transactions")


def _read_header(reader: Iterator[list[str]], report: ImportReport) -> list[str] | None:
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        report.add(1, "the file is empty")
        return None
    names = [cell.strip() for cell in header]
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        report.add(1, f"missing column(s): {', '.join(missing)}")
        return None
    return names


def _check_row(header: Sequence[str], fields: Sequence[str], line_no: int, tz: ZoneInfo,
               seen: dict[str, int], report: ImportReport) -> dict[str, Any] | None:
    if len(fields) != len(header):
        report.add(line_no, f"expected {len(header)} fields, found {len(fields)}")
        return None
    try:
        values = parse_row(dict(zip(header, fields, strict=True)), tz)
    except RowError as exc:
        report.add(line_no, str(exc))
        return None
    first = seen.setdefault(values["receipt"], line_no)
    if first != line_no:
        report.add(line_no, f"receipt {values['receipt']} appears twice (first on line {first})")
        return None
    return values


def _write_batch(session: Session, batch: list[dict[str, Any]], report: ImportReport) -> None:
    """Insert a batch, unless some receipt in it came with an earlier statement."""
    receipts = [values["receipt"] for values in batch]
    earlier = dict(session.execute(
        select(StatementLine.receipt, StatementLine.import_id)
        .where(StatementLine.receipt.in_(receipts))
    ).all())
    if earlier:
        for values in batch:
            if values["receipt"] in earlier:
                report.add(values["line_no"], f"receipt {values['receipt']} was imported "
                                              f"before (import #{earlier[values['receipt']]})")
        return
    session.execute(insert(StatementLine), batch)


def _close_import(session: Session, record: StatementImport, report: ImportReport) -> None:
    """Stamp the import with its totals and the period it covers."""
    first, last, first_epoch, last_epoch = session.execute(
        select(func.min(StatementLine.completed_at), func.max(StatementLine.completed_at),
               func.min(StatementLine.completed_epoch), func.max(StatementLine.completed_epoch))
        .where(StatementLine.import_id == record.id)
    ).one()
    record.line_count = report.lines
    record.paid_in_total, record.withdrawn_total = report.paid_in_total, report.withdrawn_total
    record.first_at, record.last_at = first, last
    record.first_epoch, record.last_epoch = first_epoch, last_epoch
    session.flush()


def recent_imports(session: Session, limit: int = 20) -> list[StatementImport]:
    """The latest imports, newest first."""
    return list(session.scalars(
        select(StatementImport).order_by(StatementImport.id.desc()).limit(limit)))


def line_by_receipt(session: Session, receipt: str) -> StatementLine | None:
    """The statement line with this receipt, if a statement showed one."""
    return session.scalar(select(StatementLine).where(StatementLine.receipt == receipt))
