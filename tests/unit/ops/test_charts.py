"""Server-side SVG charts: well-formed, escaped, and honest about their numbers."""

from __future__ import annotations

from decimal import Decimal
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# --- axes step by round numbers; text stays readable and inside the picture ---------------

SVG = "{http://www.w3.org/2000/svg}"
ranges = st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False,
                     allow_infinity=False)


@given(low=ranges, high=ranges, intervals=st.integers(min_value=1, max_value=10))
def test_ticks_are_evenly_spaced_nice_steps_that_cover_the_data(low, high, intervals) -> None:
    ticks = charts.nice_ticks(low, high, intervals)
    steps = {b - a for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1, ticks  # evenly spaced, exactly
    (step,) = steps
    assert step > 0 and step.scaleb(-step.adjusted()).normalize() in {1, 2, 5}
    assert ticks[0] <= min(low, high) and ticks[-1] >= max(low, high)
    assert len(ticks) - 1 <= intervals + 2  # no more gridlines than asked for, give or take
    if low != high:  # no wasted step at either end (an empty range is widened on purpose)
        assert ticks[0] > min(low, high) - step and ticks[-1] < max(low, high) + step


@pytest.mark.parametrize(("top", "expected"), [
    (4, [0, 1, 2, 3, 4]), (7, [0, 2, 4, 6, 8]), (100, [0, 20, 40, 60, 80, 100]),
    (0.37, [0, 0.1, 0.2, 0.3, 0.4]), (0, [0, 0.2, 0.4, 0.6, 0.8, 1])])
def test_ticks_read_as_round_numbers(top, expected) -> None:
    assert charts.nice_ticks(0, top) == [Decimal(str(n)) for n in expected]


def axis_labels(svg: ElementTree.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "end"]


def test_axis_labels_are_round_shillings() -> None:
    # the old axis topped KES 25,000 with four steps: 6.2k, 12.5k, 18.8k
    svg = parse(charts.bars("Flows", ["a"], {"x": [2_400_000]}, charts.shillings))
    assert axis_labels(svg) == ["0", "5k", "10k", "15k", "20k", "25k"]


def test_percent_axis_of_a_small_par_is_not_repeated() -> None:
    svg = parse(charts.line("PAR", ["a", "b"], {"PAR1": [0.3, 0.7]}, minimum=0.5))
    labels = axis_labels(svg)
    assert labels == ["0%", "0.2%", "0.4%", "0.6%", "0.8%"]
    assert len(set(labels)) == len(labels)


def label_boxes(svg: ElementTree.Element, y: str) -> list[tuple[float, float]]:
    boxes = []
    for text in svg.iter(f"{SVG}text"):
        if text.get("y") == y and text.get("text-anchor") == "middle":
            content = "".join(text.itertext())
            title = text.find(f"{SVG}title")
            shown = content[len(title.text or ""):] if title is not None else content
            half = charts.text_width(shown, float(text.get("font-size") or 10)) / 2
            x = float(text.get("x") or 0)
            boxes.append((x - half, x + half))
    return boxes


@given(count=st.integers(min_value=1, max_value=60),
       label=st.text(alphabet="abcdefghij 0123456789", min_size=1, max_size=30))
def test_x_labels_never_overlap_nor_leave_the_picture(count, label) -> None:
    labels = [f"{label}{n}" for n in range(count)]
    for svg in (parse(charts.bars("B", labels, {"x": list(range(count))})),
                parse(charts.line("L", labels, {"x": list(range(count))}))):
        boxes = label_boxes(svg, f"{charts.HEIGHT - charts.BOTTOM + 14:.1f}")
        assert boxes, "the first label is always drawn"
        assert all(0 <= left and right <= charts.WIDTH for left, right in boxes)
        assert all(a[1] <= b[0] for a, b in zip(boxes, boxes[1:], strict=False))


def test_a_long_label_is_shortened_and_keeps_its_full_text_as_a_tooltip() -> None:
    name = "rejected by the mobile network operator"
    svg = parse(charts.bars("SMS", [name, "sent"], {"messages": [3, 9]}))
    (shortened,) = [t for t in svg.iter(f"{SVG}text") if t.find(f"{SVG}title") is not None]
    assert shortened.find(f"{SVG}title").text == name
    assert "".join(shortened.itertext()).endswith("…")


def test_legends_wrap_inside_the_picture() -> None:
    series = {f"series number {n}": [n] for n in range(7)}
    svg = parse(charts.bars("Many", ["a"], series))
    height = float((svg.get("viewBox") or "").split()[3])
    for rect in svg.iter(f"{SVG}rect"):
        if rect.get("width") == "10":  # legend swatches
            assert float(rect.get("x") or 0) + 10 <= charts.WIDTH
            assert float(rect.get("y") or 0) + 10 <= height
    assert height > charts.HEIGHT  # a second legend row made room for itself


def test_stacked_totals_and_names_stay_inside_the_picture() -> None:
    rows = {"unmatched c2b with a very long type name": {"new": 40}, "short": {"old": 1}}
    svg = parse(charts.stacked("Breaks", rows, ["new", "old"]))
    texts = list(svg.iter(f"{SVG}text"))
    total = next(t for t in texts if t.text == "40")
    assert float(total.get("x") or 0) + charts.text_width("40", 11) <= charts.WIDTH
    name = next(t for t in texts if t.get("text-anchor") == "end"
                and t.find(f"{SVG}title") is not None)
    assert charts.text_width("".join(name.itertext())[len(
        name.find(f"{SVG}title").text):], 11) <= charts.STACK_LEFT - 6


def test_stacked_bars_are_as_tall_as_their_rows() -> None:
    def height(rows: int) -> float:
        svg = parse(charts.stacked("Breaks", {f"type {i}": {"new": 1} for i in range(rows)},
                                   ["new", "old"]))
        return float((svg.get("viewBox") or "").split()[3])

    assert height(1) == height(3) < charts.HEIGHT
    assert height(8) - height(7) == 24
