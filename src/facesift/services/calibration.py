"""What a distance means: the rate of false candidates at that distance, measured on LFW.

The calibration file holds, for a grid of distances, how many of LFW's different-person
pairs (about 87 million, every pair of images of different people) and same-person pairs
(about 240 thousand) lie at or below each distance. From it:

- ``false_match_rate(d)``: the chance that a face of a *different* person lies within ``d``.
  This is each candidate's ``score``: lower is stronger evidence.
- ``expected_false_candidates(d, n)``: ``false_match_rate(d) * n``, the number of
  different-person faces to expect within ``d`` in a gallery of ``n`` faces.
- ``threshold_for_fpir(fpir, n)``: the search threshold. A stranger searched against a
  gallery of ``n`` faces gets a candidate if any of the ``n`` comparisons falls within the
  threshold; keeping each comparison's false match rate at most ``fpir / n`` keeps that
  chance, the false positive identification rate, at most ``fpir`` (a union bound). So the
  threshold tightens as the gallery grows. On LFW's open-set protocol (1,680 gallery faces)
  a target of 1% gave a measured FPIR of about 1% (``facesift eval lfw --open-set``).
- ``ceiling``: the loosest per-comparison threshold anyone may ask for (a false match rate of
  1 in 100); an expert's explicit threshold beyond it is refused.

**The tail.** Rates below about 1 in 10 million rest on fewer than ten LFW pairs, several of
them labelling errors (the same person under two names). Below the distance where ten pairs
are reached, the rate is extrapolated: log-linear in distance, with the slope the tail has
between ten and a thousand pairs. That slope is shallower than the curve's further up, so
the extrapolated rates are, if anything, too high, and the thresholds they give too tight.
Galleries of more than about 90,000 faces at an FPIR of 1% reach into that region.

LFW holds news photos of public figures; rates on other photos can differ. The file is
rebuilt with ``facesift eval lfw DIR --identification --write-calibration FILE``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from facesift.errors import FacesiftError
from facesift.vision import VisionConfig

DEFAULT_TARGET_FMR = 1e-3
CEILING_FMR = 1e-2  # no threshold may admit more than 1 in 100 different-person faces
TAIL_PAIRS = 10  # below this many different-person pairs the rate is extrapolated
TAIL_SLOPE_SPAN = 100  # the slope is measured from TAIL_PAIRS to this many times as many


@dataclass(frozen=True)
class Calibration:
    model_id: str
    source: str
    edges: np.ndarray  # distance grid; bin i covers (edges[i], edges[i + 1]]
    impostor_at_or_below: np.ndarray  # cumulative counts at each upper edge
    genuine_at_or_below: np.ndarray
    target_false_match_rate: float

    @property
    def impostor_pairs(self) -> int:
        return int(self.impostor_at_or_below[-1])

    @property
    def genuine_pairs(self) -> int:
        return int(self.genuine_at_or_below[-1])

    def _bin(self, distance: float) -> int:
        # The upper edge at or above the distance: rounding up never understates the rate.
        i = int(np.searchsorted(self.edges[1:], distance, side="left"))
        return min(i, len(self.edges) - 2)

    def false_match_rate(self, distance: float) -> float:
        """Fraction of different-person pairs this close or closer: measured where at least
        ``TAIL_PAIRS`` pairs were seen, extrapolated along the tail below that."""
        anchor, rate_at_anchor, slope = self._tail
        if distance < anchor:
            return rate_at_anchor * 10.0 ** (-slope * (anchor - distance))
        count = self.impostor_at_or_below[self._bin(distance)]
        return float(count) / self.impostor_pairs

    @cached_property
    def _tail(self) -> tuple[float, float, float]:
        """(anchor distance, rate there, log10 rate per unit distance) of the extrapolated
        tail: the anchor is the first grid distance with ``TAIL_PAIRS`` pairs at or below it."""
        counts = self.impostor_at_or_below
        first = int(np.searchsorted(counts, TAIL_PAIRS, side="left"))
        far = int(np.searchsorted(counts, TAIL_PAIRS * TAIL_SLOPE_SPAN, side="left"))
        first, far = min(first, len(counts) - 1), min(far, len(counts) - 1)
        anchor, rate = float(self.edges[first + 1]), counts[first] / self.impostor_pairs
        if far <= first:
            return anchor, float(rate), 0.0
        rise = np.log10(counts[far] / counts[first])
        return anchor, float(rate), float(rise / (self.edges[far + 1] - self.edges[first + 1]))

    def true_match_rate(self, distance: float) -> float:
        return float(self.genuine_at_or_below[self._bin(distance)]) / self.genuine_pairs

    def expected_false_candidates(self, distance: float, gallery_size: int) -> float:
        return self.false_match_rate(distance) * gallery_size

    @property
    def default_threshold(self) -> float:
        return self.threshold_for(self.target_false_match_rate)

    def threshold_for(self, false_match_rate: float) -> float:
        """The largest distance whose false match rate is at most ``false_match_rate``."""
        anchor, rate_at_anchor, slope = self._tail
        if false_match_rate < rate_at_anchor:
            if slope <= 0:
                return float(self.edges[0])
            below = np.log10(rate_at_anchor / false_match_rate) / slope
            return max(float(self.edges[0]), anchor - float(below))
        rates = self.impostor_at_or_below / self.impostor_pairs
        ok = np.flatnonzero(rates <= false_match_rate)
        return float(self.edges[ok[-1] + 1]) if len(ok) else float(self.edges[0])

    def threshold_for_fpir(self, fpir: float, gallery_size: int) -> float:
        """The search threshold at which a stranger searched against ``gallery_size`` faces
        gets a candidate with probability at most ``fpir``."""
        return self.threshold_for(fpir / max(gallery_size, 1))

    @property
    def ceiling(self) -> float:
        """The loosest threshold any search may use."""
        return self.threshold_for(CEILING_FMR)

    def to_json(self) -> dict:
        return {
            "model_id": self.model_id,
            "source": self.source,
            "target_false_match_rate": self.target_false_match_rate,
            "default_threshold": round(self.default_threshold, 4),
            "edges": [round(float(e), 4) for e in self.edges],
            "impostor_at_or_below": self.impostor_at_or_below.tolist(),
            "genuine_at_or_below": self.genuine_at_or_below.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict) -> Calibration:
        return cls(
            model_id=data["model_id"],
            source=data["source"],
            edges=np.asarray(data["edges"], dtype=np.float64),
            impostor_at_or_below=np.asarray(data["impostor_at_or_below"], dtype=np.int64),
            genuine_at_or_below=np.asarray(data["genuine_at_or_below"], dtype=np.int64),
            target_false_match_rate=float(data["target_false_match_rate"]),
        )

    @classmethod
    def from_histograms(
        cls,
        model_id: str,
        source: str,
        edges: np.ndarray,
        genuine: np.ndarray,
        impostor: np.ndarray,
        target: float = DEFAULT_TARGET_FMR,
    ) -> Calibration:
        return cls(model_id, source, edges, np.cumsum(impostor), np.cumsum(genuine), target)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")


def load_calibration(model_id: str, path: Path | None = None) -> Calibration:
    """The calibration for ``model_id``: the file at ``path`` (a user's own model's, which
    must name that model), else the one shipped with facesift."""
    if path is not None:
        try:
            calibration = Calibration.from_json(json.loads(Path(path).read_text("utf-8")))
        except (OSError, ValueError, KeyError) as exc:
            raise FacesiftError(f"cannot read the calibration {path}: {exc}") from None
        if calibration.model_id != model_id:
            raise FacesiftError(
                f"the calibration {path} is for the model {calibration.model_id}, not {model_id}"
            )
        return calibration
    resource = resources.files("facesift.data") / f"calibration_{model_id}.json"
    if not resource.is_file():
        raise FacesiftError(
            f"no calibration is shipped for the model {model_id!r}: name one in the model's "
            'declaration ("calibration": FILE, made with facesift eval lfw --embedder-model '
            "MODEL --identification --write-calibration FILE)"
        )
    return Calibration.from_json(json.loads(resource.read_text(encoding="utf-8")))


def calibration_for(config: VisionConfig) -> Calibration:
    """The calibration of the embedder ``config`` names (a plug-in's own, if it names one)."""
    plugin = config.plugin()
    return load_calibration(config.model_id, plugin.calibration if plugin else None)
