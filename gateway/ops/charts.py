"""Small charts drawn as inline SVG on the server: no JavaScript, no build step, no CDN.

Each function takes plain numbers and returns markup that is safe to embed:
every label is escaped, and only presentation attributes are used (no inline
styles), so the console's strict Content-Security-Policy holds.

Axes step by 1, 2 or 5 times a power of ten (`nice_ticks`), so every gridline
reads as a round number. Text is laid out from an estimate of its width
(`text_width`): axis labels are thinned until they no longer overlap, long
labels are shortened with their full text in a tooltip, and nothing is drawn
past the edges of the picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from markupsafe import Markup, escape

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 16, 40
PALETTE = ("#2f6f4f", "#c77d1a", "#3b5ba5", "#a33b3b", "#6b5aa5", "#4b8a8a", "#8a6b4b")
NICE_MULTIPLIERS = (1, 2, 5)
AXIS_FONT, LABEL_FONT = 10, 11
CHAR_EM = 0.62
"""An average glyph's width in ems for the console's sans-serif: generous, so text fits."""
LONGEST_LABEL = 16
LEGEND_ROW = 16

Number = int | float | Decimal


def nice_ticks(low: Number, high: Number, intervals: int = 5) -> list[Decimal]:
    """Evenly spaced round ticks from at or below `low` to at or above `high`.

    The step is 1, 2 or 5 times a power of ten, the smallest such step that
    needs no more than `intervals` steps across the range (up to two more when
    the range straddles step boundaries). Exact decimals, so 0.1 + 0.2 is 0.3.
    """
    lo, hi = sorted((_decimal(low), _decimal(high)))
    if hi == lo:
        hi = lo + max(abs(lo), Decimal(1))
    raw = (hi - lo) / max(intervals, 1)
    step = _nice_step(raw)
    start = (lo / step).to_integral_value(ROUND_FLOOR) * step
    end = (hi / step).to_integral_value(ROUND_CEILING) * step
    return [start + n * step for n in range(int((end - start) / step) + 1)]


def _decimal(value: Number) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))


def _nice_step(raw: Decimal) -> Decimal:
    exponent = raw.adjusted()
    for multiplier in (*NICE_MULTIPLIERS, 10):
        step = Decimal(multiplier).scaleb(exponent)
        if step >= raw:
            return step
    raise AssertionError("10 × 10^n is never below a number of n+1 digits")


def text_width(text: str, size: float = AXIS_FONT) -> float:
    return len(text) * size * CHAR_EM


def shorten(text: str, limit: int = LONGEST_LABEL) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _label(x: float, y: float, text: str, *, size: float = AXIS_FONT,
           anchor: str = "middle") -> str:
    """A text label kept inside the picture; a shortened label keeps its full text as a tooltip."""
    short = shorten(text)
    if anchor == "middle":
        x = _inside(x, short, size)
    tooltip = f"<title>{escape(text)}</title>" if short != text else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">'
            f"{tooltip}{escape(short)}</text>")


def _inside(x: float, text: str, size: float) -> float:
    """The centre that keeps a centred text within the picture's edges."""
    half = text_width(text, size) / 2
    return min(max(x, half + 1), WIDTH - half - 1)


def label_stride(labels: Sequence[str], spacing: float, size: float = AXIS_FONT) -> int:
    """Draw every n-th label so that neighbours never touch."""
    if not labels or spacing <= 0:
        return 1
    widest = max(text_width(shorten(label), size) for label in labels)
    return max(1, math.ceil((widest + 6) / spacing))


def _frame(title: str, body: list[str], legend: Sequence[tuple[str, str]] = (),
           height: int = HEIGHT) -> Markup:
    items, rows = _legend(legend, height)
    height += LEGEND_ROW * max(rows - 1, 0)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>", *body, *items, "</svg>"]
    return Markup("".join(parts))


def _legend(legend: Sequence[tuple[str, str]], height: int) -> tuple[list[str], int]:
    """Legend entries left to right, wrapping onto new rows rather than running off the edge."""
    items: list[str] = []
    x, row = float(LEFT), 0
    for name, colour in legend:
        short = shorten(name, 24)
        width = 14 + text_width(short, LABEL_FONT) + 16
        if x > LEFT and x + width > WIDTH - RIGHT:
            x, row = float(LEFT), row + 1
        y = height - 14 + row * LEGEND_ROW
        items.append(f'<rect x="{x:.1f}" y="{y}" width="10" height="10" fill="{colour}"/>')
        items.append(f'<text x="{x + 14:.1f}" y="{y + 9}" font-size="{LABEL_FONT}">'
                     f"{escape(short)}</text>")
        x += width
    return items, row + 1 if legend else 0


def _axis(ticks: Sequence[Decimal], fmt: Callable[[float], str]) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    low, span = float(ticks[0]), float(ticks[-1] - ticks[0])
    lines = []
    for tick in ticks:
        y = TOP + plot_h - plot_h * (float(tick) - low) / span
        lines.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                     f'stroke="#dddddd" stroke-width="1"/>')
        lines.append(_label(LEFT - 6, y + 4, fmt(float(tick)), anchor="end"))
    return lines


def _x_labels(labels: Sequence[str], centre: Callable[[int], float], spacing: float) -> list[str]:
    """Every n-th label; one pushed in from an edge is dropped if it would touch its neighbour."""
    stride, drawn, right_edge = label_stride(labels, spacing), [], -math.inf
    for n, label in enumerate(labels):
        if n % stride:
            continue
        short = shorten(label)
        x, half = _inside(centre(n), short, AXIS_FONT), text_width(short) / 2
        if x - half < right_edge + 4:
            continue
        drawn.append(_label(x, HEIGHT - BOTTOM + 14, label))
        right_edge = x + half
    return drawn


def _trim(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def shillings(minor: float) -> str:
    """Minor units as a short KES figure for an axis: 1.2M, 350k, 900."""
    value = minor / 100
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return _trim(value)


def plain(value: float) -> str:
    return _trim(value)


def percent(value: float) -> str:
    return f"{_trim(value)}%"


def bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[Number]],
         fmt: Callable[[float], str] = plain, minimum: float = 4) -> Markup:
    """Grouped vertical bars: one group per label, one bar per series.

    `minimum` is the smallest top of the axis, so that an empty chart still has
    readable gridlines.
    """
    values = [float(v) for seq in series.values() for v in seq]
    ticks = nice_ticks(0, max([*values, minimum]))
    top = float(ticks[-1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(len(labels), 1)
    bar_w = group_w * 0.7 / max(len(series), 1)
    body = _axis(ticks, fmt)
    for g, label in enumerate(labels):
        x0 = LEFT + g * group_w + group_w * 0.15
        for s, (name, seq) in enumerate(series.items()):
            value = float(seq[g])
            h = plot_h * value / top
            body.append(f'<rect x="{x0 + s * bar_w:.1f}" y="{TOP + plot_h - h:.1f}" '
                        f'width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" '
                        f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(name)} '
                        f'{escape(label)}: {escape(fmt(value))}</title></rect>')
    body += _x_labels(labels, lambda g: LEFT + g * group_w + group_w / 2, group_w)
    legend = [(name, PALETTE[s % len(PALETTE)]) for s, name in enumerate(series)]
    return _frame(title, body, legend if len(series) > 1 else ())


def line(title: str, labels: Sequence[str], series: Mapping[str, Sequence[Number | None]],
         fmt: Callable[[float], str] = percent, top: float | None = None,
         minimum: float = 10) -> Markup:
    """Lines over the labels; a None value leaves a gap."""
    values = [float(v) for seq in series.values() for v in seq if v is not None]
    ticks = nice_ticks(0, top or max([*values, minimum]))
    axis_top = float(ticks[-1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels) - 1, 1)
    body = _axis(ticks, fmt)
    for s, (name, seq) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        points = [(LEFT + n * step, TOP + plot_h - plot_h * float(v) / axis_top, v)
                  for n, v in enumerate(seq) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                        f'stroke-width="2"/>')
        for x, y, v in points:
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                        f'<title>{escape(name)}: {escape(fmt(float(v or 0)))}</title></circle>')
    body += _x_labels(labels, lambda n: LEFT + n * step, step)
    legend = [(name, PALETTE[s % len(PALETTE)]) for s, name in enumerate(series)]
    return _frame(title, body, legend)


STACK_LEFT = 170
STACK_TOTAL = 44
"""Room on the right of the longest bar for its total."""
STACK_MIN_ROWS = 3


def stacked(title: str, rows: Mapping[str, Mapping[str, int]], parts: Sequence[str]) -> Markup:
    """Horizontal bars, one per row, split into `parts` (e.g. breaks by type and age)."""
    totals = {name: sum(values.values()) for name, values in rows.items()}
    top = float(nice_ticks(0, max([*totals.values(), 4]))[-1])
    # As tall as its rows: one break type must not sit on top of an empty picture.
    height = TOP + BOTTOM + 24 * max(len(rows), STACK_MIN_ROWS)
    plot_w = WIDTH - STACK_LEFT - RIGHT - STACK_TOTAL
    longest = int((STACK_LEFT - 8) / (LABEL_FONT * CHAR_EM))
    body = []
    for r, (name, values) in enumerate(rows.items()):
        y, x = TOP + r * 24, float(STACK_LEFT)
        short = shorten(name, longest)
        tooltip = f"<title>{escape(name)}</title>" if short != name else ""
        body.append(f'<text x="{STACK_LEFT - 6}" y="{y + 13}" font-size="{LABEL_FONT}" '
                    f'text-anchor="end">{tooltip}{escape(short)}</text>')
        for p, part in enumerate(parts):
            w = plot_w * values.get(part, 0) / top
            if w:
                body.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="18" '
                            f'fill="{PALETTE[p % len(PALETTE)]}"><title>{escape(name)}, '
                            f'{escape(part)}: {values.get(part, 0)}</title></rect>')
            x += w
        body.append(f'<text x="{x + 4:.1f}" y="{y + 13}" font-size="{LABEL_FONT}">'
                    f"{totals[name]}</text>")
    if not rows:
        body.append(f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle" '
                    f'font-size="13">No open breaks</text>')
    return _frame(title, body, [(part, PALETTE[p % len(PALETTE)])
                                for p, part in enumerate(parts)], height)
