"""The nightly chart as numbers for an SVG template: pages written (bars) and cost (line).

No JavaScript and no chart library: the coordinates are computed here and the template
writes ``<rect>``/``<polyline>`` elements with presentation attributes only (no inline
``style``, which the Content-Security-Policy forbids). Each bar carries a ``<title>``, the
browser's own tooltip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..term import format_usd

WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 64, 12, 28


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[dict[str, Any]] = field(default_factory=list)
    line: str = ""
    dots: list[dict[str, Any]] = field(default_factory=list)
    left_ticks: list[dict[str, Any]] = field(default_factory=list)
    right_ticks: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    plot: dict[str, float] = field(default_factory=dict)
    empty: bool = True


def nice_max(value: float) -> float:
    """The next 1/2/5×10ⁿ at or above ``value`` (so axis ticks are round numbers)."""
    if value <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * base:
            return step * base
    return 10 * base


def intervals(top: float) -> int:
    """How many equal steps divide a ``nice_max`` into round ticks (5 → 1s, 2 → 0.5s, 1 → 0.2s)."""
    leading = round(top / 10 ** math.floor(math.log10(top)))
    return 4 if leading == 2 else 5


def _count(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def nightly_chart(nights: list[dict[str, Any]]) -> Chart:
    chart = Chart()
    n = len(nights)
    if not n:
        return chart
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    chart.plot = {"x0": x0, "x1": x1, "y0": y0, "y1": y1}
    pages_max = nice_max(max(float(x["pages"]) for x in nights))
    cost_max = nice_max(max(float(x["cost_usd"]) for x in nights))
    chart.empty = not any(x["jobs"] for x in nights)
    slot = (x1 - x0) / n
    points = []
    for i, night in enumerate(nights):
        h = (y1 - y0) * night["pages"] / pages_max
        x = x0 + i * slot
        chart.bars.append({
            "x": round(x + slot * 0.15, 1), "y": round(y1 - h, 1), "w": round(slot * 0.7, 1),
            "h": round(h, 1),
            "title": f"{night['night']}: {night['pages']:,} pages written, {night['jobs']} jobs, "
                     f"{format_usd(night['cost_usd'])} at batch prices "
                     f"({format_usd(night['interactive_usd'])} interactive)",
        })
        cy = y1 - (y1 - y0) * night["cost_usd"] / cost_max
        cx = x + slot / 2
        points.append(f"{cx:.1f},{cy:.1f}")
        chart.dots.append({"cx": round(cx, 1), "cy": round(cy, 1),
                           "title": f"{night['night']}: {format_usd(night['cost_usd'])}"})
        if i % max(1, n // 6) == 0 or i == n - 1:
            chart.labels.append({"x": round(cx, 1), "y": y1 + 16, "text": night["night"][5:]})
    chart.line = " ".join(points)
    steps = intervals(pages_max)
    for k in range(steps + 1):
        y = round(y1 - (y1 - y0) * k / steps, 1)
        chart.left_ticks.append({"y": y, "text": _count(pages_max * k / steps)})
    steps = intervals(cost_max)
    for k in range(steps + 1):
        y = round(y1 - (y1 - y0) * k / steps, 1)
        chart.right_ticks.append({"y": y, "text": format_usd(cost_max * k / steps, unknown="")})
    return chart
