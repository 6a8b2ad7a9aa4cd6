"""Server-side SVG charts: well-formed, escaped, and honest about their numbers."""

from __future__ import annotations

from decimal import Decimal
from xml.etree import ElementTree

from gateway.ops import charts


def parse(markup: str) -> ElementTree.Element:
    return ElementTree.fromstring(str(markup))


def test_bars_draw_one_rect_per_value_scaled_to_the_axis() -> None:
    svg = parse(charts.bars("Flows", ["Jan", "Feb"], {"in": [100, 50], "out": [0, 25]}))
    rects = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect")
             if r.get("height") is not None and r.get("width") != "10"]
    heights = [float(r.get("height") or 0) for r in rects]
    assert len(rects) == 4 and heights[0] == max(heights)
    assert heights[1] == 0.0 and abs(heights[2] - heights[0] / 2) < 0.2


def test_labels_are_escaped() -> None:
    markup = str(charts.bars("<script>", ["<b>&"], {"x": [1]}))
    assert "<script>" not in markup and "&lt;b&gt;&amp;" in markup
    parse(markup)


def test_lines_leave_gaps_for_missing_values() -> None:
    svg = parse(charts.line("PAR", ["a", "b", "c"], {"PAR30": [Decimal("5.5"), None, 3]}))
    circles = list(svg.iter("{http://www.w3.org/2000/svg}circle"))
    assert len(circles) == 2


def test_an_empty_stack_says_so() -> None:
    assert "No open breaks" in str(charts.stacked("Breaks", {}, ["new", "old"]))


def test_shillings_read_short() -> None:
    assert [charts.shillings(v) for v in (90_000, 35_000_000, 120_000_000)] == [
        "900", "350k", "1.2M"]
