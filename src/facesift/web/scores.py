"""Scores people can read: one band in words and a bar per candidate, the exact figures kept
one click away.

A candidate's band compares two rates the calibration already gives every search: the false
positive rate at the candidate's own distance (its ``score``: the fraction of different-person
pairs this close) and the rate at the search's threshold. Both are in the search view as
*expected false candidates* (rate x gallery size), so their ratio is "how many times rarer a
stranger this close is than a stranger at the threshold":

- **weak**: less than 10 times rarer, i.e. within one order of magnitude of the threshold.
  A candidate just inside the threshold (the issue's different person "at 1 in 1,269") is
  therefore always weak, whatever the gallery size or target rate.
- **moderate**: 10 to 100 times rarer;
- **strong**: 100 times rarer or more.

Orders of magnitude, not distances, because the rate falls exponentially with distance along
the calibration's tail: a fixed distance margin means very different things at different
thresholds and gallery sizes, while a ratio of rates means the same everywhere. The bar is a
``<meter>`` (no inline style, which the CSP forbids) whose value is log10(ratio) / 4: empty at
the threshold, full at 10,000 times rarer, coloured by the same two band edges.

Figures are written in plain decimals (never scientific notation) and with enough digits that
two different distances never print the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup, escape

from facesift.services.calibration import Calibration
from facesift.services.casework.values import Search

MODERATE_RATIO = 10.0  # at least this many times rarer than at the threshold: moderate
STRONG_RATIO = 100.0  # and at least this: strong
FULL_BAR_RATIO = 10_000.0  # a bar is full at this ratio
DISTANCE_DIGITS = 6  # distances are about 0.1 to 2: six decimals separate any two in practice


@dataclass(frozen=True)
class ScoreBand:
    """A candidate's headline measure: ``band`` is strong, moderate or weak."""

    band: str
    label: str
    headline: str
    times_rarer: float | None  # than a different person at the threshold; None: not known
    strength: float  # 0 to 1, the bar's fill

    @property
    def low(self) -> float:
        return _strength(MODERATE_RATIO)

    @property
    def high(self) -> float:
        return _strength(STRONG_RATIO)


def _strength(ratio: float) -> float:
    if ratio <= 1:
        return 0.0
    return round(min(1.0, math.log10(ratio) / math.log10(FULL_BAR_RATIO)), 4)


def one_in(rate: float | None) -> str:
    """A rate as '1 in 12,345', rounded to whole numbers: no scientific notation."""
    if not rate or rate <= 0:
        return "fewer than 1 in 1,000,000,000,000"
    return "1 in 1" if rate >= 1 else f"1 in {round(1 / rate):,}"


def plain(value: float | None, significant: int = 3) -> str:
    """A number in plain decimals with ``significant`` figures: 0.000123, 12.3, 1,234."""
    if value is None:
        return "–"
    if value == 0:
        return "0"
    if abs(value) < 1e-12:
        return "less than 0.000000000001"
    decimals = max(0, significant - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def exact_distance(value: float | None) -> str:
    return "–" if value is None else f"{value:.{DISTANCE_DIGITS}f}"


def _field(search: Search | Mapping[str, Any], name: str) -> Any:
    """A search's field: a search view (``Search``), or a disclosure packet's search."""
    return search.get(name) if isinstance(search, Mapping) else getattr(search, name)


def score_band(candidate: dict[str, Any], search: Search | Mapping[str, Any]) -> ScoreBand:
    """The band of ``candidate`` (a search view's candidate) in ``search`` (its search view)."""
    at_threshold = _field(search, "expected_false_candidates")
    own = candidate.get("expected_false_candidates")
    ratio = None
    if at_threshold and own is not None:
        ratio = at_threshold / own if own > 0 else math.inf
    if ratio is None or ratio < MODERATE_RATIO:
        band, label = "weak", "Weak similarity"
    elif ratio < STRONG_RATIO:
        band, label = "moderate", "Moderate similarity"
    else:
        band, label = "strong", "Strong similarity"
    pairs = f"about {one_in(candidate.get('score'))} pairs of different people are this close"
    if band == "weak" or ratio is None:
        headline = f"Near the threshold: {pairs}. Weigh it with extra doubt."
    else:
        times = "more than 10,000" if ratio >= FULL_BAR_RATIO else f"about {ratio:,.0f}"
        headline = f"{pairs[0].upper()}{pairs[1:]}, {times} times rarer than at the threshold."
    strength = 0.0 if ratio is None else _strength(ratio)
    return ScoreBand(band, label, headline, ratio, strength)


CHART_MAX_DISTANCE = 1.0  # LFW's different-person pairs are almost all nearer than this
CHART_STEP = 0.02  # the calibration's 0.0025 grid, summed eight bins at a time
CHART_WIDTH, CHART_HEIGHT, CHART_AXIS = 600, 150, 22


def distance_chart(calibration: Calibration, search: Search | Mapping[str, Any]) -> Markup:
    """Where each candidate's distance falls on the calibration's two distance distributions
    (LFW pairs of the same person, pairs of different people), with the search's threshold:
    a server-drawn SVG, no script. Each curve is scaled to its own peak: the chart shows
    where the two kinds of pair lie, not how many there are of each."""
    shown = _field(search, "candidates") or []
    candidates = [c for c in shown if c.get("distance") is not None]
    if not candidates:
        return Markup("")
    plot = CHART_HEIGHT - CHART_AXIS

    def x(distance: float) -> float:
        return round(min(distance, CHART_MAX_DISTANCE) / CHART_MAX_DISTANCE * CHART_WIDTH, 1)

    def curve(cumulative: np.ndarray) -> str:
        per_bin = np.diff(np.concatenate([[0], cumulative]))
        group = max(1, round(CHART_STEP / float(calibration.edges[1] - calibration.edges[0])))
        upper = calibration.edges[1:]
        keep = upper <= CHART_MAX_DISTANCE + 1e-9
        counts, tops = per_bin[keep], upper[keep]
        usable = len(counts) - len(counts) % group
        summed = counts[:usable].reshape(-1, group).sum(axis=1)
        ends = tops[:usable].reshape(-1, group)[:, -1]
        peak = summed.max() or 1
        points = [f"0,{plot}"] + [
            f"{x(float(e) - CHART_STEP / 2)},{round(plot - 6 - (plot - 12) * n / peak, 1)}"
            for e, n in zip(ends, summed, strict=True)
        ]
        return " ".join([*points, f"{CHART_WIDTH},{plot}"])

    threshold = float(_field(search, "threshold") or 0)
    marks = "".join(
        f'<g class="chart-candidate"><title>Candidate {int(c["rank"])}: distance '
        f'{exact_distance(c["distance"])}</title><line x1="{x(c["distance"])}" y1="{plot}" '
        f'x2="{x(c["distance"])}" y2="{plot - 14}"/><text x="{x(c["distance"])}" '
        f'y="{plot - 17}">{int(c["rank"])}</text></g>'
        for c in candidates
    )
    ticks = "".join(
        f'<text class="chart-tick" x="{x(t)}" y="{CHART_HEIGHT - 4}">{t:.1f}</text>'
        for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    )
    label = (
        f"Distances of the {len(candidates)} candidates shown, on the calibration's "
        "distributions: pairs of photos of the same person (left hump) and of different "
        f"people (right hump), with this search's threshold at {exact_distance(threshold)}."
    )
    return Markup(
        f'<figure class="distance-chart"><svg viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'role="img" aria-label="{escape(label)}">'
        f'<polygon class="chart-same" points="{curve(calibration.genuine_at_or_below)}"/>'
        f'<polygon class="chart-different" points="{curve(calibration.impostor_at_or_below)}"/>'
        f'<line class="chart-threshold" x1="{x(threshold)}" y1="0" x2="{x(threshold)}" '
        f'y2="{plot}"/>{marks}{ticks}</svg>'
        f"<figcaption>{escape(label)} Nearer is more alike; a candidate left of the "
        "threshold line is listed, and the further into the same-person hump it falls, the "
        "rarer a stranger that close.</figcaption></figure>"
    )


def install(env: jinja2.Environment) -> None:
    """Add the filters the score templates use (``scores.html``) to ``env``."""
    env.filters.update(score_band=score_band, plain=plain, exact_distance=exact_distance)
    env.filters["one_in_words"] = one_in
