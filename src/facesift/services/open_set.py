"""Open-set identification on LFW: do strangers get candidates, and are people found?

Every facesift search is open-set: the person in the probe may not be in the gallery at all.
Two error rates describe it (ISO/IEC 19795-1, as NIST's 1:N evaluations use them):

- **FPIR**, the false positive identification rate: the share of searches for someone *not*
  in the gallery that still return a candidate. This is the harm of a stranger made a lead.
- **FNIR**, the false negative identification rate: the share of searches for someone who
  *is* in the gallery whose face is not among the candidates (within the threshold and the
  first ``top`` ranks).

The protocol, from LFW's labels alone: the first image (by file name) of every person with
two or more images is the gallery (1,680 faces); their other images are mated probes (7,484);
the people with one image are the non-mated probes (4,069).

FPIR at a per-comparison false match rate ``f`` is about ``1 - (1 - f) ** N`` for a gallery
of ``N`` faces, which is why a fixed per-comparison threshold lets strangers through as a
gallery grows, and why facesift derives its threshold from a target FPIR and ``N``
(``Calibration.threshold_for_fpir``).

Techniques measured against the plain distance threshold, each as FNIR at a fixed FPIR, the
threshold set on the non-mated searches (the usual way to compare them):

- **T-norm**: a probe's distances are standardised by the mean and spread of its distances
  to a cohort of impostor faces. Deployed, the cohort is a sample of the gallery itself, so
  here it is the gallery.
- **Nearest-cohort ratio**: the best distance divided by the mean of the next ``k``.
- **Quality-aware thresholds**: a threshold per band of probe quality, each band held to
  the same FPIR.
- **Fusion** of a person's several gallery faces (a variant protocol with two gallery faces
  for each person who has three or more images): the nearest face, the mean distance, and
  the distance to the mean embedding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from facesift.services.calibration import Calibration

FPIR_POINTS = (0.001, 0.01, 0.1)
RANKS = (1, 10)
COHORT_NEAREST = 20  # faces averaged by the nearest-cohort ratio
QUALITY_BANDS = (0.5,)  # probe quality score cut points for the quality-aware thresholds


@dataclass(frozen=True)
class Protocol:
    """Indices into the labelled images."""

    gallery: np.ndarray
    gallery_subject: np.ndarray  # the subject (person number) of each gallery face
    mated: np.ndarray
    mated_subject: np.ndarray
    non_mated: np.ndarray

    @property
    def subjects(self) -> int:
        return int(self.gallery_subject.max()) + 1 if len(self.gallery_subject) else 0


def build_protocol(names: list[str], gallery_per_subject: int = 1) -> Protocol:
    """The open-set split of labelled images (``names[i]`` is image i's identity, images
    sorted by path). Each person with more images than ``gallery_per_subject`` puts that many
    in the gallery and the rest among the mated probes; the others are non-mated probes."""
    by_person: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        by_person.setdefault(name, []).append(index)
    gallery, gallery_subject, mated, mated_subject, non_mated = [], [], [], [], []
    subject = -1
    for images in by_person.values():
        if len(images) == 1:
            non_mated.append(images[0])
            continue
        held = min(gallery_per_subject, len(images) - 1)
        subject += 1
        gallery += images[:held]
        gallery_subject += [subject] * held
        mated += images[held:]
        mated_subject += [subject] * (len(images) - held)
    as_array = np.asarray
    return Protocol(
        as_array(gallery, dtype=np.int64),
        as_array(gallery_subject, dtype=np.int64),
        as_array(mated, dtype=np.int64),
        as_array(mated_subject, dtype=np.int64),
        as_array(non_mated, dtype=np.int64),
    )


# -- scores -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Searches:
    """What each search returns, scored by one technique (lower is more alike).

    Within one search every technique here orders the gallery as the distance does, so a
    mate's rank is its distance rank, and a non-mated search's best score is its nearest face's.
    """

    mate_score: np.ndarray  # per mated probe
    mate_rank: np.ndarray  # 1-based
    non_mated_best: np.ndarray  # per non-mated probe


def distances(probes: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    squared = (probes**2).sum(1)[:, None] + (gallery**2).sum(1)[None, :] - 2 * probes @ gallery.T
    return np.sqrt(np.maximum(squared, 0.0))


def _mate_positions(sorted_subjects: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    hits = sorted_subjects == subjects[:, None]
    return np.argmax(hits, axis=1)  # every mated probe's subject is in the gallery


Normaliser = Callable[[np.ndarray], np.ndarray]


def _plain(sorted_d: np.ndarray) -> np.ndarray:
    return sorted_d


def _t_norm(sorted_d: np.ndarray) -> np.ndarray:
    mean = sorted_d.mean(axis=1, keepdims=True)
    spread = sorted_d.std(axis=1, keepdims=True) + 1e-9
    return (sorted_d - mean) / spread


def _nearest_cohort_ratio(sorted_d: np.ndarray) -> np.ndarray:
    # Each face is divided by the mean of the k nearest *other* faces; for the nearest face that
    # is faces 2..k+1, for any other face it is a smaller number, so the order is kept.
    columns = sorted_d.shape[1]
    k = min(COHORT_NEAREST, columns - 1)
    if k < 1:
        return sorted_d
    total = sorted_d[:, : k + 1].sum(axis=1, keepdims=True)
    excluded = np.where(
        np.arange(columns)[None, :] <= k, sorted_d, sorted_d[:, k : k + 1]
    )  # beyond k+1 the k nearest others are faces 1..k
    cohort_mean = (total - excluded) / k
    return sorted_d / (cohort_mean + 1e-9)


TECHNIQUES: dict[str, Normaliser] = {
    "plain distance": _plain,
    "T-norm, gallery cohort": _t_norm,
    f"ratio to next {COHORT_NEAREST}": _nearest_cohort_ratio,
}


def score_searches(
    vectors: np.ndarray, protocol: Protocol, normalise: Normaliser = _plain, fusion: str = "min"
) -> Searches:
    """Every probe searched against the gallery, at subject level: ``fusion`` says how a
    subject's several gallery faces make one distance (min, mean, or template: the distance
    to their mean embedding)."""
    subject_d = {}
    for role, probes in (("mated", protocol.mated), ("non_mated", protocol.non_mated)):
        subject_d[role] = _subject_distances(vectors, probes, protocol, fusion)
    mated_sorted_idx = np.argsort(subject_d["mated"], axis=1)
    mated_sorted = np.take_along_axis(subject_d["mated"], mated_sorted_idx, axis=1)
    position = _mate_positions(mated_sorted_idx, protocol.mated_subject)
    mated_scores = normalise(mated_sorted)
    non_mated_scores = normalise(np.sort(subject_d["non_mated"], axis=1))
    return Searches(
        mate_score=mated_scores[np.arange(len(position)), position],
        mate_rank=position + 1,
        non_mated_best=non_mated_scores[:, 0],
    )


def _subject_distances(
    vectors: np.ndarray, probes: np.ndarray, protocol: Protocol, fusion: str
) -> np.ndarray:
    gallery = vectors[protocol.gallery]
    if fusion == "template":
        templates = np.stack(
            [gallery[protocol.gallery_subject == s].mean(0) for s in range(protocol.subjects)]
        )
        return distances(vectors[probes], templates)
    face_d = distances(vectors[probes], gallery)
    if len(protocol.gallery) == protocol.subjects:  # one face a subject: nothing to fuse
        return face_d
    reduce = np.minimum if fusion == "min" else np.add
    out = np.full((len(probes), protocol.subjects), np.inf if fusion == "min" else 0.0)
    reduce.at(out.T, protocol.gallery_subject, face_d.T)
    if fusion == "mean":
        out /= np.bincount(protocol.gallery_subject)[None, :]
    return out


# -- rates ------------------------------------------------------------------------------------


def threshold_at_fpir(non_mated_best: np.ndarray, fpir: float) -> float:
    """The largest threshold at which at most ``fpir`` of the non-mated searches return a
    candidate (accept when score <= threshold)."""
    ordered = np.sort(non_mated_best)
    allowed = int(np.floor(fpir * len(ordered)))
    if allowed >= len(ordered):
        return float(ordered[-1])
    return float(np.nextafter(ordered[allowed], -np.inf))


def fnir(searches: Searches, threshold: float | np.ndarray, top: int) -> float:
    found = (searches.mate_rank <= top) & (searches.mate_score <= threshold)
    return float(1.0 - found.mean())


def fpir(searches: Searches, threshold: float | np.ndarray) -> float:
    return float((searches.non_mated_best <= threshold).mean())


def fnir_at_fpir(searches: Searches, target: float, top: int) -> float:
    return fnir(searches, threshold_at_fpir(searches.non_mated_best, target), top)


def fnir_at_fpir_by_band(
    searches: Searches, mated_band: np.ndarray, non_mated_band: np.ndarray, target: float, top: int
) -> float:
    """Quality-aware: each band of probe quality gets its own threshold at the same FPIR."""
    mated_threshold = np.empty(len(mated_band))
    for band in np.unique(np.concatenate([mated_band, non_mated_band])):
        in_band = non_mated_band == band
        t = threshold_at_fpir(searches.non_mated_best[in_band], target) if in_band.any() else 0.0
        mated_threshold[mated_band == band] = t
    return fnir(searches, mated_threshold, top)


# -- the report -------------------------------------------------------------------------------


@dataclass
class TechniqueResult:
    technique: str
    protocol: str  # "1 face/person", or "2 faces/person" for the fusion variant
    fnir_at_fpir: dict[str, float]  # FPIR (as text) -> FNIR
    rank1: float
    rank10: float


@dataclass
class OperatingPoint:
    """The default rule, as a search runs it: threshold from the calibration, target FPIR and
    gallery size; FPIR and FNIR measured on the protocol."""

    calibration: str
    target_fpir: float
    gallery_size: int
    threshold: float
    measured_fpir: float
    measured_fnir: float


@dataclass
class OpenSetReport:
    gallery_faces: int
    mated_probes: int
    non_mated_probes: int
    top: int
    default: list[OperatingPoint] = field(default_factory=list)
    techniques: list[TechniqueResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _technique_result(
    name: str, protocol_name: str, searches: Searches, top: int, rate
) -> TechniqueResult:
    return TechniqueResult(
        technique=name,
        protocol=protocol_name,
        fnir_at_fpir={f"{p:g}": rate(p) for p in FPIR_POINTS},
        rank1=float((searches.mate_rank <= 1).mean()),
        rank10=float((searches.mate_rank <= 10).mean()),
    )


def evaluate(
    vectors: np.ndarray,
    names: list[str],
    quality: np.ndarray,
    calibration: Calibration,
    target_fpir: float,
    top: int,
    held_out_calibration: Callable[[np.ndarray], Calibration] | None = None,
) -> OpenSetReport:
    """The whole study. ``held_out_calibration(image_mask)`` builds a calibration from the
    images in the mask only, for the people-disjoint check of the default rule."""
    protocol = build_protocol(names)
    report = OpenSetReport(len(protocol.gallery), len(protocol.mated), len(protocol.non_mated), top)
    plain = score_searches(vectors, protocol)
    report.default.append(
        _operating_point("shipped (all of LFW)", calibration, protocol, plain, target_fpir, top)
    )
    if held_out_calibration is not None:
        report.default.append(
            _held_out_point(vectors, names, held_out_calibration, target_fpir, top)
        )
    one = "1 face/person"
    for name, normalise in TECHNIQUES.items():
        searches = plain if normalise is _plain else score_searches(vectors, protocol, normalise)
        report.techniques.append(
            _technique_result(
                name, one, searches, top, lambda p, s=searches: fnir_at_fpir(s, p, top)
            )
        )
    bands_mated = np.digitize(quality[protocol.mated], QUALITY_BANDS)
    bands_non_mated = np.digitize(quality[protocol.non_mated], QUALITY_BANDS)
    report.techniques.append(
        _technique_result(
            f"quality bands (cut {', '.join(map(str, QUALITY_BANDS))})",
            one,
            plain,
            top,
            lambda p: fnir_at_fpir_by_band(plain, bands_mated, bands_non_mated, p, top),
        )
    )
    multi = build_protocol(names, gallery_per_subject=2)
    multi_name = "2 faces/person"
    for fusion in ("min", "mean", "template"):
        searches = score_searches(vectors, multi, fusion=fusion)
        report.techniques.append(
            _technique_result(
                f"fusion: {fusion}",
                multi_name,
                searches,
                top,
                lambda p, s=searches: fnir_at_fpir(s, p, top),
            )
        )
    report.notes += [
        "FNIR at FPIR p: the threshold is set on the non-mated searches so that at most p of "
        "them return a candidate; FNIR counts mated searches whose mate is not within it at "
        f"rank {top} or better. rank-1/rank-10 ignore the threshold.",
        "The shipped calibration was built from every LFW pair, these probes included; the "
        "held-out row builds it from the other half of the people only.",
        "Gallery 2 faces/person: people with three or more images put two in the gallery; "
        "fusion makes one distance a person from the nearest face (min: what searching faces "
        "one by one gives), the mean distance, or the distance to the mean embedding.",
    ]
    return report


def _operating_point(
    label: str,
    calibration: Calibration,
    protocol: Protocol,
    searches: Searches,
    target_fpir: float,
    top: int,
) -> OperatingPoint:
    size = len(protocol.gallery)
    threshold = calibration.threshold_for_fpir(target_fpir, size)
    return OperatingPoint(
        label,
        target_fpir,
        size,
        threshold,
        fpir(searches, threshold),
        fnir(searches, threshold, top),
    )


def _held_out_point(
    vectors: np.ndarray,
    names: list[str],
    build: Callable[[np.ndarray], Calibration],
    target_fpir: float,
    top: int,
) -> OperatingPoint:
    """The default rule with a calibration that never saw the evaluated people: people split
    in two halves by name; each half is evaluated with a calibration from the other."""
    people = sorted(set(names))
    half = {name: i % 2 for i, name in enumerate(people)}
    fold = np.array([half[n] for n in names])
    thresholds, fp, fn, sizes, weights = [], [], [], [], []
    for f in (0, 1):
        calibration = build(fold != f)
        local = np.flatnonzero(fold == f)
        protocol = build_protocol([names[i] for i in local])
        searches = score_searches(vectors[local], protocol)
        point = _operating_point("", calibration, protocol, searches, target_fpir, top)
        thresholds.append(point.threshold)
        fp.append(point.measured_fpir * len(protocol.non_mated))
        fn.append(point.measured_fnir * len(protocol.mated))
        sizes.append(point.gallery_size)
        weights.append((len(protocol.non_mated), len(protocol.mated)))
    return OperatingPoint(
        "held out (other half of the people)",
        target_fpir,
        int(np.mean(sizes)),
        float(np.mean(thresholds)),
        sum(fp) / sum(w[0] for w in weights),
        sum(fn) / sum(w[1] for w in weights),
    )
