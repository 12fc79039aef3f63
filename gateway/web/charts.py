"""Charts drawn on the server as inline SVG: no script, no style attribute (the page's CSP
allows neither), geometry in SVG attributes, colours from classes in app.css. Every label is
escaped; a chart is also given as a table on the page for readers without sight of it."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 30


def _axis(peak: int) -> tuple[int, list[int]]:
    """A round top for the y axis and its gridline values (0 included)."""
    step = 1
    while peak > step * 5:  # steps 1, 2, 5, 10, 20, 50 ...: at most five gridlines
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    top = max(step, -(-peak // step) * step)
    return top, list(range(0, top + 1, step))


def _frame(title: str, peak: int, css: str) -> tuple[list[str], float, int]:
    top, ticks = _axis(peak)
    plot = HEIGHT - TOP - BOTTOM
    parts = [f'<svg class="chart {css}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for value in ticks:
        y = TOP + plot - plot * value / top
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{value}</text>')
    return parts, plot / top, top


def stacked_bars(title: str, labels: Sequence[str], series: Sequence[str],
                 values: Sequence[Sequence[int]], *, label_every: int = 5) -> Markup:
    """One bar per label, stacked by series (``values[bar][series]``); each part of a bar
    has class ``series-<name>`` and a tooltip with its number."""
    peak = max((sum(bar) for bar in values), default=0)
    parts, scale, _ = _frame(title, peak, "stacked")
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    base = HEIGHT - BOTTOM
    for index, (label, bar) in enumerate(zip(labels, values, strict=True)):
        x = LEFT + index * slot + slot * 0.15
        y = float(base)
        for name, count in zip(series, bar, strict=True):
            if not count:
                continue
            height = count * scale
            y -= height
            parts.append(f'<rect class="series-{escape(name)}" x="{x:.1f}" y="{y:.1f}" '
                         f'width="{slot * 0.7:.1f}" height="{height:.1f}"><title>'
                         f"{escape(label)} {escape(name)}: {count}</title></rect>")
        if index % label_every == 0 or index == len(labels) - 1:
            parts.append(f'<text class="label" x="{x + slot * 0.35:.1f}" y="{base + 16}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(title: str, labels: Sequence[str], values: Sequence[int]) -> Markup:
    """One bar per label (a histogram), each with a tooltip with its number."""
    parts, scale, _ = _frame(title, max(values, default=0), "histogram")
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    base = HEIGHT - BOTTOM
    for index, (label, count) in enumerate(zip(labels, values, strict=True)):
        x = LEFT + index * slot + slot * 0.1
        height = count * scale
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{base - height:.1f}" '
                     f'width="{slot * 0.8:.1f}" height="{height:.1f}"><title>{escape(label)}: '
                     f"{count}</title></rect>"
                     f'<text class="label" x="{x + slot * 0.4:.1f}" y="{base + 16}" '
                     f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
