"""Bar charts as server-rendered SVG: no script, no library fetched at run time, and within
the Content-Security-Policy (presentation attributes, no ``style``). Each bar carries its
number as text too, so the chart reads without colour and in a screen reader."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 170
BAR_WIDTH = 300
NUMBER_WIDTH = 60


def bar_chart(title: str, rows: list[tuple[str, int]]) -> Markup:
    """A horizontal bar per (label, count), scaled to the largest count."""
    largest = max((count for _, count in rows), default=0) or 1
    height = max(len(rows), 1) * (BAR_HEIGHT + GAP) + GAP
    width = LABEL_WIDTH + BAR_WIDTH + NUMBER_WIDTH
    parts = [
        f'<svg class="bar-chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for n, (label, count) in enumerate(rows):
        y = GAP + n * (BAR_HEIGHT + GAP)
        bar = round(BAR_WIDTH * count / largest)
        middle = y + BAR_HEIGHT * 0.7
        parts += [
            f'<text x="{LABEL_WIDTH - 6}" y="{middle:.0f}" text-anchor="end" '
            f'font-size="13" fill="currentColor">{escape(label[:28])}</text>',
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{bar}" height="{BAR_HEIGHT}" '
            f'fill="#3b6ea5" data-count="{count}"></rect>',
            f'<text x="{LABEL_WIDTH + bar + 6}" y="{middle:.0f}" font-size="13" '
            f'fill="currentColor">{count:,}</text>',
        ]
    if not rows:
        parts.append(
            f'<text x="{LABEL_WIDTH}" y="{GAP + BAR_HEIGHT * 0.7:.0f}" font-size="13" '
            'fill="currentColor">nothing in this period</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
