"""Charts drawn on the server as inline SVG: no script, no file from anywhere else.

Each chart is an ``<svg role="img">`` with a title and a one-sentence description
(what a screen reader announces); the page puts the same numbers in a table beside it,
which is the accessible form of the data. Colours keep 3:1 or more against the white
plot (WCAG 2.2 §1.4.11), and the series are also told apart by their legend order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

#: Series colours, each at least 4.5:1 on white.
COLOURS = ("#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#374151", "#0e7490")
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 56


@dataclass(frozen=True, slots=True)
class Line:
    """A horizontal (value) or vertical (category index) marker line with a label."""

    value: float
    label: str
    colour: str = "#b91c1c"


def _nice(top: float, *, whole: bool = True) -> float:
    """A round axis maximum at or above ``top``: four steps of 1, 2, 2.5 or 5 times a
    power of ten (whole steps for counts, so no tick reads "0" twice)."""
    raw = max(top, 1e-9) / 4
    power = float(10 ** math.floor(math.log10(raw)))
    steps = (1.0, 2.0, 2.5, 5.0, 10.0) if power >= 10 or not whole else (1.0, 2.0, 5.0, 10.0)
    step = next(m * power for m in steps if m * power >= raw)
    return 4 * (max(step, 1.0) if whole else step)


def _frame(chart_id: str, title: str, description: str, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
        f'focusable="false"><title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(description)}</desc>'
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every value is escaped


def _axis(top: float, percent: bool) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for step in range(5):
        value = top * step / 4
        y = TOP + plot_h - plot_h * step / 4
        text = f"{value * 100:.3g} %" if percent else f"{value:,.0f}"
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#d1d5db" stroke-width="1"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#374151">{escape(text)}</text>'
        )
    return parts


def _labels(categories: Sequence[str], slot: float) -> list[str]:
    every = max(1, len(categories) // 10)
    parts = []
    for index, label in enumerate(categories):
        if index % every:
            continue
        x = LEFT + slot * (index + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" font-size="11" '
            f'fill="#374151">{escape(label)}</text>'
        )
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    parts, x = [], LEFT
    for index, name in enumerate(names):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 22}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 13}" font-size="11" fill="#111827">'
            f"{escape(name)}</text>"
        )
        x += 24 + 7 * len(name)
    return parts


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: dict[str, list[int]],
    *,
    marker: Line | None = None,
) -> Markup:
    """Stacked bars: one bar per category, one colour per series.

    ``marker`` draws a vertical line before the category at index ``marker.value``.
    """
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    top = _nice(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(categories))
    body = _axis(top, percent=False)
    for index in range(len(categories)):
        base = 0.0
        for number, values in enumerate(series.values()):
            value = values[index]
            if not value:
                continue
            height = plot_h * value / top
            y = TOP + plot_h - plot_h * base / top - height
            body.append(
                f'<rect x="{LEFT + slot * index + slot * 0.15:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{height:.1f}" '
                f'fill="{COLOURS[number % len(COLOURS)]}"/>'
            )
            base += value
    if marker is not None:
        x = LEFT + slot * marker.value
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
            f'stroke="{marker.colour}" stroke-width="2" stroke-dasharray="6 3"/>'
            f'<text x="{x + 4:.1f}" y="{TOP + 12}" font-size="11" fill="{marker.colour}">'
            f"{escape(marker.label)}</text>"
        )
    body += _labels(categories, slot) + _legend(list(series))
    return _frame(chart_id, title, description, body)


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: dict[str, list[float | None]],
    *,
    lines: Sequence[Line] = (),
) -> Markup:
    """Rates per category as lines (a gap where a value is None), with horizontal limits."""
    values = [v for points in series.values() for v in points if v is not None]
    top = _nice(max([*values, *(line.value * 1.2 for line in lines)], default=0.0), whole=False)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(categories))
    body = _axis(top, percent=True)
    for line in lines:
        y = TOP + plot_h - plot_h * line.value / top
        body.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{line.colour}" stroke-width="1.5" stroke-dasharray="6 3"/>'
            f'<text x="{WIDTH - RIGHT - 2}" y="{y - 3:.1f}" text-anchor="end" font-size="11" '
            f'fill="{line.colour}">{escape(line.label)}</text>'
        )
    for number, (_, points) in enumerate(series.items()):
        colour = COLOURS[number % len(COLOURS)]
        path: list[str] = []
        for index, value in enumerate(points):
            if value is None:
                continue
            x = LEFT + slot * (index + 0.5)
            y = TOP + plot_h - plot_h * min(value, top) / top
            path.append(f"{'L' if path else 'M'}{x:.1f},{y:.1f}")
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
        if path:
            body.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
    body += _labels(categories, slot) + _legend(list(series))
    return _frame(chart_id, title, description, body)


__all__ = ["COLOURS", "Line", "bar_chart", "line_chart"]
