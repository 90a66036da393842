"""What a distance means: the rate of false candidates at that distance, measured on LFW.

The calibration file holds, for a grid of distances, how many of LFW's different-person
pairs (about 87 million, every pair of images of different people) and same-person pairs
(about 240 thousand) lie at or below each distance. From it:

- ``false_match_rate(d)``: the chance that a face of a *different* person lies within ``d``.
  This is each candidate's ``score``: lower is stronger evidence.
- ``expected_false_candidates(d, n)``: ``false_match_rate(d) * n``, the number of
  different-person faces to expect within ``d`` in a gallery of ``n`` faces.
- ``default_threshold``: the largest distance whose false match rate is at most
  ``target_false_match_rate``.

LFW holds news photos of public figures; rates on other photos can differ. The file is
rebuilt with ``facesift eval lfw DIR --identification --write-calibration FILE``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

DEFAULT_TARGET_FMR = 1e-3


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
        """Fraction of different-person pairs this close or closer. When none was seen,
        the bound 1/N is returned rather than a claim of zero."""
        count = self.impostor_at_or_below[self._bin(distance)]
        return max(float(count), 1.0) / self.impostor_pairs

    def true_match_rate(self, distance: float) -> float:
        return float(self.genuine_at_or_below[self._bin(distance)]) / self.genuine_pairs

    def expected_false_candidates(self, distance: float, gallery_size: int) -> float:
        return self.false_match_rate(distance) * gallery_size

    @property
    def default_threshold(self) -> float:
        return self.threshold_for(self.target_false_match_rate)

    def threshold_for(self, false_match_rate: float) -> float:
        rates = self.impostor_at_or_below / self.impostor_pairs
        ok = np.flatnonzero(rates <= false_match_rate)
        return float(self.edges[ok[-1] + 1]) if len(ok) else float(self.edges[0])

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


def load_calibration(model_id: str) -> Calibration:
    """The calibration shipped with facesift for ``model_id``."""
    resource = resources.files("facesift.data") / f"calibration_{model_id}.json"
    if not resource.is_file():
        raise FileNotFoundError(f"no calibration is shipped for the model {model_id!r}")
    return Calibration.from_json(json.loads(resource.read_text(encoding="utf-8")))
