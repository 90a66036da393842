"""The evaluation report as one self-contained HTML file: the rates, and three plots drawn
with matplotlib's Agg backend (no display), embedded as PNG data so the file can be mailed or
archived as it is.

- **DET curves**: false non-match rate against false match rate over every probe-gallery
  pair, and FNIR against FPIR over the searches, both on log axes.
- **Score distributions**: same-person and different-person distances, with the operating
  threshold.
- **Per-group bars**: FNMR and FMR at the operating threshold, a bar a group.
"""

from __future__ import annotations

import base64
import io
import math

import matplotlib

matplotlib.use("Agg")  # before pyplot: never a display

import matplotlib.pyplot as plt
import numpy as np
from jinja2 import Environment, select_autoescape

from facesift.services.evaluation import DatasetReport

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>facesift evaluation: {{ r.model_id }}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
padding: 0 1rem; }
table { border-collapse: collapse; margin: 1rem 0; } td, th { padding: .25rem .6rem;
border-bottom: 1px solid #ddd; text-align: left; } td.num { text-align: right; }
img { max-width: 100%; } .note { color: #555; }
</style></head><body>
<h1>facesift evaluation</h1>
<p>Model <code>{{ r.model_id }}</code>, detector <code>{{ r.detector }}</code>. {{ r.photos }}
labelled photos: {{ r.gallery_photos }} in the gallery ({{ r.gallery_faces }} faces),
{{ r.probes }} probes; {{ r.mated_searches }} mated and {{ r.non_mated_searches }} non-mated
searches.</p>
<h2>Identification</h2>
<table>
<tr><th>Operating point (target FPIR {{ pct(r.target_fpir) }})</th><td class="num">threshold
{{ "%.4f" | format(r.operating_threshold) }}: FPIR {{ pct(r.operating_fpir) }},
FNIR {{ pct(r.operating_fnir) }}</td></tr>
{% for p, v in r.fnir_at_fpir.items() %}<tr><th>FNIR at FPIR {{ pct(p | float) }}</th>
<td class="num">{{ pct(v) }}</td></tr>{% endfor %}
<tr><th>Rank-1</th><td class="num">{{ pct(r.rank1) }}</td></tr>
<tr><th>Rank-10</th><td class="num">{{ pct(r.rank10) }}</td></tr>
</table>
<h2>Verification</h2>
<table>{% for f, v in r.tar_at_far.items() %}<tr><th>TAR at FAR {{ pct(f | float) }}</th>
<td class="num">{{ pct(v) }}</td></tr>{% endfor %}</table>
<img src="data:image/png;base64,{{ det }}" alt="DET curves">
<img src="data:image/png;base64,{{ scores }}" alt="Score distributions">
{% if r.groups %}
<h2>By group, at the operating threshold</h2>
<table><tr><th>column</th><th>group</th><th>same-person pairs</th><th>FNMR</th>
<th>different-person pairs</th><th>FMR</th></tr>
{% for g in r.groups %}<tr><td>{{ g.column }}</td><td>{{ g.value }}</td>
<td class="num">{{ g.genuine_pairs }}</td><td class="num">{{ pct(g.fnmr) }}</td>
<td class="num">{{ g.impostor_pairs }}</td><td class="num">{{ pct(g.fmr) }}</td></tr>{% endfor %}
</table>
<table><tr><th>column</th><th>largest FNMR ratio</th><th>largest FMR ratio</th></tr>
{% for d in r.differentials %}<tr><td>{{ d.column }}</td>
<td class="num">{{ ratio(d.fnmr_ratio) }}</td>
<td class="num">{{ ratio(d.fmr_ratio) }}</td></tr>{% endfor %}</table>
<img src="data:image/png;base64,{{ bars }}" alt="Per-group error rates">
{% endif %}
<h2>Notes</h2>
<ul>{% for n in r.notes %}<li class="note">{{ n }}</li>{% endfor %}</ul>
</body></html>
"""


def render_html(report: DatasetReport) -> str:
    env = Environment(autoescape=select_autoescape(default=True))
    template = env.from_string(_TEMPLATE)
    return template.render(
        r=report,
        pct=lambda v: f"{100 * v:.2f}%",
        ratio=lambda v: "unbounded (a group at 0)" if math.isinf(v) else f"{v:.2f}",
        det=_png(_det(report)),
        scores=_png(_scores(report)),
        bars=_png(_bars(report)) if report.groups else "",
    )


def _png(figure: plt.Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _error_curve(accept: np.ndarray, reject: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false accept, false reject) rates at every threshold: ``accept`` are scores that
    should be rejected (impostors), ``reject`` those that should be accepted (genuine)."""
    finite = np.concatenate([accept, reject])
    thresholds = np.unique(finite[np.isfinite(finite)])
    if len(thresholds) == 0:
        return np.zeros(0), np.zeros(0)
    false_accept = np.searchsorted(np.sort(accept), thresholds, side="right") / max(len(accept), 1)
    false_reject = 1 - np.searchsorted(np.sort(reject), thresholds, side="right") / max(
        len(reject), 1
    )
    return false_accept, false_reject


def _det(report: DatasetReport) -> plt.Figure:
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    fmr, fnmr = _error_curve(report.impostor, report.genuine)
    _loglog(axes[0], fmr, fnmr, "FMR (different-person pairs)", "FNMR (same-person pairs)")
    axes[0].set_title("Verification DET")
    if report.searches is not None and len(report.searches.mate_score):
        s = report.searches
        found = np.where(s.mate_rank <= 10, s.mate_score, np.inf)
        fpir, fnir = _error_curve(s.non_mated_best, found)
        _loglog(axes[1], fpir, fnir, "FPIR (non-mated searches)", "FNIR (mated searches, top 10)")
    axes[1].set_title("Identification DET")
    figure.tight_layout()
    return figure


def _loglog(axis, x: np.ndarray, y: np.ndarray, xlabel: str, ylabel: str) -> None:
    floor = 1e-4  # zero rates are drawn at the floor of the log axes
    if len(x):
        axis.step(np.maximum(x, floor), np.maximum(y, floor), where="post", marker=".")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlim(floor, 1)
    axis.set_ylim(floor, 1.05)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(True, which="both", alpha=0.3)


def _scores(report: DatasetReport) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(10, 3.5))
    bins = np.linspace(0, 1.2, 61).tolist()
    if len(report.impostor):
        axis.hist(report.impostor, bins, alpha=0.6, density=True, label="different person")
    if len(report.genuine):
        axis.hist(report.genuine, bins, alpha=0.6, density=True, label="same person")
    axis.axvline(report.operating_threshold, color="black", linestyle="--", label="threshold")
    axis.set_xlabel("distance")
    axis.set_ylabel("density")
    axis.legend()
    axis.set_title("Score distributions")
    return figure


def _bars(report: DatasetReport) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(10, 3.5))
    labels = [f"{g.column}={g.value}" for g in report.groups]
    x = np.arange(len(labels))
    axis.bar(x - 0.2, [g.fnmr for g in report.groups], 0.4, label="FNMR")
    axis.bar(x + 0.2, [g.fmr for g in report.groups], 0.4, label="FMR")
    axis.set_xticks(x, labels, rotation=30, ha="right")
    axis.set_ylabel("rate at the operating threshold")
    axis.legend()
    axis.set_title("Per-group error rates")
    return figure
