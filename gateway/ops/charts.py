"""Small charts drawn as inline SVG on the server: no JavaScript, no build step, no CDN.

Each function takes plain numbers and returns markup that is safe to embed:
every label is escaped, and only presentation attributes are used (no inline
styles), so the console's strict Content-Security-Policy holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 16, 40
PALETTE = ("#2f6f4f", "#c77d1a", "#3b5ba5", "#a33b3b", "#6b5aa5", "#4b8a8a", "#8a6b4b")

Number = int | float | Decimal


def _scale(maximum: float) -> float:
    """A round top for the axis, so that gridlines land on readable numbers."""
    if maximum <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(maximum))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= maximum:
            return float(step * magnitude)
    return float(10 * magnitude)


def _frame(title: str, body: list[str], legend: Sequence[tuple[str, str]] = (),
           height: int = HEIGHT) -> Markup:
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>", *body]
    for n, (name, colour) in enumerate(legend):
        x = LEFT + n * 120
        parts.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" '
                     f'fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 5}" font-size="11">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _axis(top: float, fmt: Callable[[float], str]) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    lines = []
    for n in range(5):
        value = top * n / 4
        y = TOP + plot_h - plot_h * n / 4
        lines.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                     f'stroke="#dddddd" stroke-width="1"/>')
        lines.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{escape(fmt(value))}</text>')
    return lines


def shillings(minor: float) -> str:
    """Minor units as a short KES figure for an axis: 1.2M, 350k, 900."""
    value = minor / 100
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.0f}"


def plain(value: float) -> str:
    return f"{value:.0f}"


def percent(value: float) -> str:
    return f"{value:.0f}%"


def bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[Number]],
         fmt: Callable[[float], str] = plain, minimum: float = 4) -> Markup:
    """Grouped vertical bars: one group per label, one bar per series.

    `minimum` is the smallest top of the axis, so that an empty chart still has
    readable gridlines.
    """
    values = [float(v) for seq in series.values() for v in seq]
    top = _scale(max([*values, minimum]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(len(labels), 1)
    bar_w = group_w * 0.7 / max(len(series), 1)
    body = _axis(top, fmt)
    for g, label in enumerate(labels):
        x0 = LEFT + g * group_w + group_w * 0.15
        for s, (name, seq) in enumerate(series.items()):
            value = float(seq[g])
            h = plot_h * value / top
            body.append(f'<rect x="{x0 + s * bar_w:.1f}" y="{TOP + plot_h - h:.1f}" '
                        f'width="{bar_w - 2:.1f}" height="{h:.1f}" '
                        f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(name)} '
                        f'{escape(label)}: {escape(fmt(value))}</title></rect>')
        body.append(f'<text x="{x0 + group_w * 0.35:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                    f'font-size="10" text-anchor="middle">{escape(label)}</text>')
    legend = [(name, PALETTE[s % len(PALETTE)]) for s, name in enumerate(series)]
    return _frame(title, body, legend if len(series) > 1 else ())


def line(title: str, labels: Sequence[str], series: Mapping[str, Sequence[Number | None]],
         fmt: Callable[[float], str] = percent, top: float | None = None,
         minimum: float = 10) -> Markup:
    """Lines over the labels; a None value leaves a gap."""
    values = [float(v) for seq in series.values() for v in seq if v is not None]
    top = top or _scale(max([*values, minimum]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels) - 1, 1)
    body = _axis(top, fmt)
    for s, (name, seq) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        points = [(LEFT + n * step, TOP + plot_h - plot_h * float(v) / top, v)
                  for n, v in enumerate(seq) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                        f'stroke-width="2"/>')
        for x, y, v in points:
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                        f'<title>{escape(name)}: {escape(fmt(float(v or 0)))}</title></circle>')
    for n, label in enumerate(labels):
        if len(labels) <= 8 or n % 2 == 0:
            body.append(f'<text x="{LEFT + n * step:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                        f'font-size="10" text-anchor="middle">{escape(label)}</text>')
    legend = [(name, PALETTE[s % len(PALETTE)]) for s, name in enumerate(series)]
    return _frame(title, body, legend)


def stacked(title: str, rows: Mapping[str, Mapping[str, int]], parts: Sequence[str]) -> Markup:
    """Horizontal bars, one per row, split into `parts` (e.g. breaks by type and age)."""
    totals = {name: sum(values.values()) for name, values in rows.items()}
    top = _scale(max([*totals.values(), 4]))
    height = max(HEIGHT, TOP + BOTTOM + 24 * len(rows))
    left = 170
    plot_w = WIDTH - left - RIGHT
    body = []
    for r, (name, values) in enumerate(rows.items()):
        y, x = TOP + r * 24, float(left)
        body.append(f'<text x="{left - 6}" y="{y + 13}" font-size="11" '
                    f'text-anchor="end">{escape(name)}</text>')
        for p, part in enumerate(parts):
            w = plot_w * values.get(part, 0) / top
            if w:
                body.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="18" '
                            f'fill="{PALETTE[p % len(PALETTE)]}"><title>{escape(name)}, '
                            f'{escape(part)}: {values.get(part, 0)}</title></rect>')
            x += w
        body.append(f'<text x="{x + 4:.1f}" y="{y + 13}" font-size="11">{totals[name]}</text>')
    if not rows:
        body.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
                    f'font-size="13">No open breaks</text>')
    return _frame(title, body, [(part, PALETTE[p % len(PALETTE)])
                                for p, part in enumerate(parts)], height)
