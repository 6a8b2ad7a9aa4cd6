"""Screens as a feature phone shows them: GSM-7, at most 182 septets, paginated with 98 More."""

from __future__ import annotations

from dataclasses import dataclass

from core.gsm7 import USSD_MAX, septets, to_gsm7, truncate_septets


@dataclass(frozen=True, slots=True)
class Reply:
    """What the telco gets: a screen that either waits for input (CON) or closes (END)."""

    text: str
    end: bool

    @property
    def body(self) -> str:
        return ("END " if self.end else "CON ") + self.text


def end_screen(text: str) -> Reply:
    """A closing screen; it cannot paginate, so it is cut to the limit as a last guard."""
    return Reply(truncate_septets(to_gsm7(text).strip(), USSD_MAX), end=True)


def _join(*parts: str) -> str:
    return "\n".join(part for part in parts if part)


def _wrap(line: str, room: int) -> list[str]:
    """Split a line that cannot fit one page at word boundaries (hard-split long words)."""
    if septets(line) <= room:
        return [line]
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        candidate = f"{current} {word}" if current else word
        if septets(candidate) <= room:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while septets(word) > room:
            head = truncate_septets(word, room)
            pieces.append(head)
            word = word[len(head):]
        current = word
    if current:
        pieces.append(current)
    return pieces


def paginate(body: str, footer: str, more: str, limit: int = USSD_MAX) -> list[str]:
    """Cut a screen into pages that each fit `limit`, every page but the last ending in `more`."""
    body, footer = to_gsm7(body).strip(), to_gsm7(footer)
    single = _join(body, footer)
    if septets(single) <= limit:
        return [single]
    tail = _join(to_gsm7(more), footer)
    room = limit - septets(tail) - 1  # the newline between the page and its tail
    pages: list[list[str]] = [[]]
    for line in (piece for raw in body.split("\n") for piece in _wrap(raw, room)):
        if pages[-1] and septets(_join(*pages[-1], line)) > room:
            pages.append([])
        pages[-1].append(line)
    rendered = [_join(*lines, tail) for lines in pages[:-1]]
    rendered.append(_join(*pages[-1], footer))
    return [truncate_septets(page, limit) for page in rendered]
