"""Suppression: the faces of people who opted out are kept out of the gallery and out of
every candidate list, for good.

An opt-out request leaves its embeddings as *suppression templates*, sealed at rest (see
``governance.sealing``). Ingest drops every face within the suppression threshold of a
template before it is stored, and counts them; every search drops candidates within it and
records how many. The threshold is the calibration's ceiling, the distance at which 1 in 100
pairs of different people fall (0.4125 for the shipped model): looser than any search may
run, so a look-alike of the person is suppressed rather than their own face missed. A
template serves only this check: it is never searched with, shown or exported.

Templates are unsealed per search (Fernet, microseconds each) and per ingest run, so a new
opt-out takes effect at once in every server process without a cache to go stale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from facesift.governance.sealing import Sealer
from facesift.schemas import Face
from facesift.services.calibration import load_calibration
from facesift.store import Store

DIMENSIONS = 128


@dataclasses.dataclass(frozen=True)
class Suppression:
    templates: np.ndarray  # (n, 128) float32
    threshold: float

    @classmethod
    def load(cls, store: Store, model_id: str | None) -> Suppression:
        """The store's templates; none (and no key touched) when there are none."""
        sealed = store.optout.templates() if store.optout.template_count() else []
        if not sealed or model_id is None:
            return cls(np.zeros((0, DIMENSIONS), np.float32), 0.0)
        sealer = Sealer.for_data_dir(store.data_dir)
        vectors = [np.frombuffer(sealer.unseal(s), dtype="<f4") for s in sealed]
        return cls(np.stack(vectors).astype(np.float32), threshold_for(model_id))

    def __bool__(self) -> bool:
        return len(self.templates) > 0

    def near(self, vectors: np.ndarray) -> np.ndarray:
        """For each row of ``vectors``: within the threshold of some template?"""
        if not self or len(vectors) == 0:
            return np.zeros(len(vectors), dtype=bool)
        diffs = vectors[:, None, :] - self.templates[None, :, :]
        return np.sqrt((diffs**2).sum(axis=2)).min(axis=1) <= self.threshold

    def keep_faces(self, faces: Sequence[Face]) -> tuple[list[Face], int]:
        """The faces to store, and how many were suppressed."""
        if not self or not faces:
            return list(faces), 0
        near = self.near(np.stack([f.embedding for f in faces]).astype(np.float32))
        kept = [f for f, drop in zip(faces, near, strict=True) if not drop]
        return kept, len(faces) - len(kept)


def threshold_for(model_id: str) -> float:
    """The suppression threshold: the calibrated ceiling (a false match rate of 1 in 100)."""
    return load_calibration(model_id).ceiling


def drop_suppressed(store: Store, candidates: list, model_id: str) -> tuple[list, int]:
    """Candidates (``search.Candidate``) less those near a suppression template, re-ranked;
    and how many were dropped."""
    if not candidates:
        return candidates, 0
    suppression = Suppression.load(store, model_id)
    if not suppression:
        return candidates, 0
    ids, vectors = store.embeddings(c.face_id for c in candidates)
    suppressed = {int(i) for i, drop in zip(ids, suppression.near(vectors), strict=True) if drop}
    kept = [c for c in candidates if c.face_id not in suppressed]
    ranked = [dataclasses.replace(c, rank=n) for n, c in enumerate(kept, start=1)]
    return ranked, len(candidates) - len(kept)
