"""Evaluation anyone can run (R22-R24): a labelled photo set through the real ingest and
search path, in a sandbox, never the production gallery.

``facesift eval dataset DIR --labels labels.csv`` (and the auditors' upload in the API) reads
one identity per photo, ingests the gallery photos with ``services.ingest`` into a new data
folder and SQLite database of its own (a temporary folder, whatever ``$FACESIFT_DATABASE_URL``
says), analyses each probe as a search does (the largest face) and asks the gallery's vector
index for its neighbours as a search does (``Gallery.nearest``).

**The labels.** A CSV with a header: ``path`` (relative to DIR, never outside it) and
``identity``; optionally ``role`` (``gallery`` or ``probe``; other roles, such as the
fixture's ``group`` and ``negative`` photos, are left out); every other column but
``expected_faces`` is a *group* column (or those named with ``--group``), such as a
self-declared attribute of the person. facesift never infers such attributes; it only counts
errors by the groups it is given. Without a ``role`` column, each person's first photo (by
path) is the gallery and the rest are probes; people with one photo are non-mated probes.

**The searches.** A probe of someone in the gallery is a *mated* search: it is found when a
face of that person is within the threshold and among the first ``top`` people. Every mated
probe is also searched a second time *as a stranger*: its own person's faces left out of the
answer, so its nearest other face says whether a stranger would have got a candidate (this
gives non-mated searches from a set with no strangers in it, as the fixture is). Probes of
people not in the gallery are non-mated searches too. A gallery photo's labelled face is its
largest; other faces in it stay in the gallery as unknown people, as they would.

**The rates** (open_set's definitions): FNIR at a fixed FPIR (the threshold set on the
non-mated searches), rank-1 and rank-10, the operating point a search would use (threshold
from the shipped calibration, the target FPIR and the gallery's size), and TAR at a fixed FAR
over every probe-gallery pair of labelled faces. Per group, FNMR (same-person pairs beyond
the operating threshold) and FMR (different-person pairs of the same group within it; the
threshold is the operating one, so on a small set the FMR is usually 0), and per group column
the largest ratio between groups. With ``n`` non-mated searches, no FPIR below ``1/n`` can be
measured: the report says how many there were.
"""

from __future__ import annotations

import csv
import math
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from facesift.errors import FacesiftError, InvalidInput
from facesift.services import lfw
from facesift.services import open_set as rates
from facesift.services.calibration import Calibration
from facesift.services.gallery import Gallery
from facesift.services.ingest import IngestOptions, ingest
from facesift.store.database import DATABASE_FILE, sqlite_url
from facesift.vision import FaceAnalyzer, VisionConfig
from facesift.vision.decode import DEFAULT_MAX_BYTES

KNOWN_COLUMNS = ("path", "identity", "role", "expected_faces")
FPIR_POINTS = rates.FPIR_POINTS
FAR_POINTS = (0.001, 0.01)
TOP = 10
MAX_NEIGHBOURS = 1000  # a mate ranked beyond this many faces counts as not found
COLLECTION = "evaluation"


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    identity: str
    role: str  # "gallery" or "probe"
    groups: dict[str, str]


@dataclass(frozen=True)
class GroupRates:
    column: str
    value: str
    genuine_pairs: int
    impostor_pairs: int
    fnmr: float
    fmr: float


@dataclass(frozen=True)
class GroupDifferential:
    """The largest ratio between two groups of one column (inf: one group's rate is 0 and
    another's is not; 1: all equal)."""

    column: str
    fnmr_ratio: float
    fmr_ratio: float

    @property
    def largest(self) -> float:
        return max(self.fnmr_ratio, self.fmr_ratio)


@dataclass
class DatasetReport:
    photos: int
    gallery_photos: int
    gallery_faces: int
    probes: int
    mated_searches: int
    non_mated_searches: int
    probes_without_face: int
    model_id: str
    detector: str
    target_fpir: float
    operating_threshold: float
    operating_fpir: float
    operating_fnir: float
    fnir_at_fpir: dict[str, float]
    tar_at_far: dict[str, float]
    rank1: float
    rank10: float
    groups: list[GroupRates] = field(default_factory=list)
    differentials: list[GroupDifferential] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # For the plots; not part of the JSON document.
    genuine: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    impostor: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    searches: rates.Searches | None = field(default=None, repr=False)

    @property
    def largest_group_ratio(self) -> float | None:
        return max((d.largest for d in self.differentials), default=None)

    def as_dict(self) -> dict:
        values = {
            k: v for k, v in asdict(self).items() if k not in ("genuine", "impostor", "searches")
        }
        values["largest_group_ratio"] = self.largest_group_ratio
        return _finite(values)


def _finite(value):
    """JSON has no infinity: an unbounded ratio is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# -- the labels ---------------------------------------------------------------------------------


def read_labels(
    root: Path, labels: Path, group_columns: list[str] | None = None
) -> tuple[list[LabelledPhoto], list[str]]:
    """The labelled photos and the group columns. Raises InvalidInput, saying which line and
    why, on a file that cannot be used."""
    try:
        with labels.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
            header = list(rows[0].keys()) if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"cannot read the labels {labels}: {exc}") from None
    if not {"path", "identity"} <= set(header):
        raise InvalidInput(f"the labels need a header with path and identity; found {header}")
    groups = group_columns if group_columns else [c for c in header if c not in KNOWN_COLUMNS]
    if unknown := [c for c in groups if c not in header]:
        raise InvalidInput(f"no column {', '.join(unknown)} in the labels")
    has_roles = "role" in header and any(r.get("role") in ("gallery", "probe") for r in rows)
    root = root.resolve()
    photos: list[LabelledPhoto] = []
    for line, row in enumerate(rows, start=2):
        identity = (row.get("identity") or "").strip()
        role = (row.get("role") or "").strip() if has_roles else ""
        if has_roles and role not in ("gallery", "probe"):
            continue  # group photos, negatives: not one identity a photo
        if not identity or identity.startswith("MULTI:"):
            continue
        path = _inside(root, row.get("path") or "", line)
        photos.append(LabelledPhoto(path, identity, role, {c: row.get(c) or "" for c in groups}))
    if not has_roles:
        photos = _split_by_person(photos)
    if not any(p.role == "gallery" for p in photos) or not any(p.role == "probe" for p in photos):
        raise InvalidInput("the labels give no gallery photo or no probe photo")
    return photos, groups


def _inside(root: Path, relative: str, line: int) -> Path:
    path = (root / relative).resolve()
    if not relative or not path.is_relative_to(root):
        raise InvalidInput(f"line {line} of the labels: {relative!r} is not a path inside {root}")
    if not path.is_file():
        raise InvalidInput(f"line {line} of the labels: {relative} is not a file")
    return path


def _split_by_person(photos: list[LabelledPhoto]) -> list[LabelledPhoto]:
    """Each person's first photo (by path) to the gallery, the rest (and loners) probes."""
    by_person: dict[str, list[LabelledPhoto]] = {}
    for photo in sorted(photos, key=lambda p: str(p.path)):
        by_person.setdefault(photo.identity, []).append(photo)
    split = []
    for own in by_person.values():
        first = "gallery" if len(own) > 1 else "probe"
        split += [LabelledPhoto(own[0].path, own[0].identity, first, own[0].groups)]
        split += [LabelledPhoto(p.path, p.identity, "probe", p.groups) for p in own[1:]]
    return split


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Probe:
    photo: LabelledPhoto
    vector: np.ndarray | None  # None: no face found


def evaluate_dataset(
    root: Path,
    labels: Path,
    config: VisionConfig,
    calibration: Calibration,
    target_fpir: float,
    group_columns: list[str] | None = None,
    workers: int = 1,
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
) -> DatasetReport:
    """Run the labelled set in a sandbox data folder that is deleted afterwards."""
    photos, groups = read_labels(root, labels, group_columns)
    with tempfile.TemporaryDirectory(prefix="facesift-eval-") as sandbox:
        folder = Path(sandbox)
        # An explicit SQLite URL: $FACESIFT_DATABASE_URL must never lead here.
        with Gallery.open(folder, sqlite_url(folder / DATABASE_FILE)) as gallery:
            return _run(
                gallery, photos, groups, config, calibration, target_fpir, workers, on_progress
            )


def _run(
    gallery: Gallery,
    photos: list[LabelledPhoto],
    groups: list[str],
    config: VisionConfig,
    calibration: Calibration,
    target_fpir: float,
    workers: int,
    on_progress: Callable[[str, int, int], None],
) -> DatasetReport:
    enrol = [p for p in photos if p.role == "gallery"]
    options = IngestOptions(collection=COLLECTION, workers=workers, vision=config)
    ingest(
        gallery,
        [p.path for p in enrol],
        options,
        on_progress=lambda s: on_progress("ingest", s.done, s.total),
    )
    face_ids, vectors = gallery.store.embeddings(gallery.store.face_ids())
    by_path = {p.path: p for p in enrol}
    labelled = _labelled_faces(gallery, face_ids, by_path)
    face_identity = np.array([labelled[i].identity if i in labelled else "" for i in face_ids])
    probes = _analyse_probes([p for p in photos if p.role == "probe"], config, on_progress)
    threshold = calibration.threshold_for_fpir(target_fpir, len(face_ids))
    searches = _search_all(gallery, probes, face_ids, face_identity)
    report = DatasetReport(
        photos=len(photos),
        gallery_photos=len(enrol),
        gallery_faces=len(face_ids),
        probes=len(probes),
        mated_searches=len(searches.mate_rank),
        non_mated_searches=len(searches.non_mated_best),
        probes_without_face=sum(p.vector is None for p in probes),
        model_id=calibration.model_id,
        detector=config.detector,
        target_fpir=target_fpir,
        operating_threshold=threshold,
        operating_fpir=rates.fpir(searches, threshold),
        operating_fnir=rates.fnir(searches, threshold, TOP),
        fnir_at_fpir={f"{p:g}": rates.fnir_at_fpir(searches, p, TOP) for p in FPIR_POINTS},
        tar_at_far={},
        rank1=float((searches.mate_rank <= 1).mean()) if len(searches.mate_rank) else 0.0,
        rank10=float((searches.mate_rank <= 10).mean()) if len(searches.mate_rank) else 0.0,
        searches=searches,
    )
    _pairs(report, probes, vectors, face_ids, labelled, groups, threshold)
    report.notes += _notes(report)
    return report


def _labelled_faces(
    gallery: Gallery, face_ids: np.ndarray, by_path: dict[Path, LabelledPhoto]
) -> dict[int, LabelledPhoto]:
    """Each gallery photo's largest face carries the photo's label; others are unknown."""
    details = gallery.store.face_details(int(i) for i in face_ids)
    largest: dict[Path, tuple[int, int]] = {}
    for face_id, row in details.items():
        area = (row["x2"] - row["x1"]) * (row["y2"] - row["y1"])
        path = Path(row["path"]).resolve()
        if path in by_path and area > largest.get(path, (-1, 0))[0]:
            largest[path] = (area, face_id)
    return {face_id: by_path[path] for path, (_, face_id) in largest.items()}


def _analyse_probes(
    photos: list[LabelledPhoto],
    config: VisionConfig,
    on_progress: Callable[[str, int, int], None],
) -> list[_Probe]:
    """Each probe's largest face, as a search picks it (with the search's fallback detector)."""
    analyzer = FaceAnalyzer.from_config(replace(config, fallback_detector="mmod"))
    probes = []
    for done, photo in enumerate(photos, start=1):
        try:
            if photo.path.stat().st_size > DEFAULT_MAX_BYTES:
                raise ValueError("over the upload limit")
            faces = analyzer.analyze_bytes(photo.path.read_bytes()).faces
        except (OSError, ValueError, FacesiftError):  # a probe without a face, and counted
            faces = []
        face = max(faces, key=lambda f: f.box.area) if faces else None
        probes.append(_Probe(photo, face.embedding if face is not None else None))
        on_progress("search", done, len(photos))
    return probes


def _search_all(
    gallery: Gallery, probes: list[_Probe], face_ids: np.ndarray, identity: np.ndarray
) -> rates.Searches:
    """Every probe through the gallery's index, as a search asks it."""
    of_face = dict(zip(face_ids.tolist(), identity.tolist(), strict=True))
    enrolled = set(identity.tolist()) - {""}
    k = min(len(face_ids), MAX_NEIGHBOURS)
    mate_score, mate_rank, non_mated = [], [], []
    for probe in probes:
        mated = probe.photo.identity in enrolled
        if probe.vector is None:
            if mated:
                mate_score.append(np.inf)
                mate_rank.append(k + 1)
            non_mated.append(np.inf)  # no face: no candidate for a stranger either
            continue
        neighbours = gallery.nearest(probe.vector, k) if k else []
        people: list[str] = []  # distinct people in order; unknown faces count one each
        best_other = np.inf
        found = False
        for n in neighbours:
            who = of_face.get(n.face_id, "") or f"#{n.face_id}"
            if who not in people:
                people.append(who)
            if who == probe.photo.identity:
                if not found:
                    mate_score.append(n.distance)
                    mate_rank.append(len(people))
                    found = True
            elif best_other == np.inf:
                best_other = n.distance
        if mated and not found:
            mate_score.append(np.inf)
            mate_rank.append(k + 1)
        non_mated.append(best_other)  # the nearest face of anyone else: a stranger's search
    return rates.Searches(
        mate_score=np.asarray(mate_score, dtype=np.float64),
        mate_rank=np.asarray(mate_rank, dtype=np.int64),
        non_mated_best=np.asarray(non_mated, dtype=np.float64),
    )


def _pairs(
    report: DatasetReport,
    probes: list[_Probe],
    vectors: np.ndarray,
    face_ids: np.ndarray,
    labelled: dict[int, LabelledPhoto],
    groups: list[str],
    threshold: float,
) -> None:
    """Verification rates over every probe x labelled gallery face pair, overall and by group."""
    found = [p for p in probes if p.vector is not None]
    columns = [i for i, face_id in enumerate(face_ids.tolist()) if face_id in labelled]
    if not found or not columns:
        return
    enrolled = [labelled[int(face_ids[i])] for i in columns]
    d = rates.distances(
        np.stack([p.vector for p in found if p.vector is not None]), vectors[columns]
    )
    same = np.array([[p.photo.identity == g.identity for g in enrolled] for p in found])
    report.genuine, report.impostor = d[same], d[~same]
    flat_d, flat_same = d.ravel(), same.ravel()
    if flat_same.any() and (~flat_same).any():
        report.tar_at_far = {
            f"{f:g}": lfw.rates_at_far(flat_d, flat_same, f)[0] for f in FAR_POINTS
        }
    for column in groups:
        values = sorted({p.photo.groups[column] for p in found} - {""})
        column_rates = []
        for value in values:
            in_probe = np.array([p.photo.groups[column] == value for p in found])[:, None]
            in_gallery = np.array([g.groups[column] == value for g in enrolled])[None, :]
            genuine = d[same & in_probe]
            impostor = d[~same & in_probe & in_gallery]  # same-group impostors
            column_rates.append(
                GroupRates(
                    column,
                    value,
                    len(genuine),
                    len(impostor),
                    float((genuine > threshold).mean()) if len(genuine) else 0.0,
                    float((impostor <= threshold).mean()) if len(impostor) else 0.0,
                )
            )
        report.groups += column_rates
        if len(column_rates) > 1:
            report.differentials.append(
                GroupDifferential(
                    column,
                    _ratio([r.fnmr for r in column_rates]),
                    _ratio([r.fmr for r in column_rates]),
                )
            )


def _ratio(values: list[float]) -> float:
    high, low = max(values), min(values)
    if high == 0:
        return 1.0
    return high / low if low > 0 else math.inf


def _notes(report: DatasetReport) -> list[str]:
    notes = [
        f"Ran in a sandbox data folder, deleted afterwards; {report.gallery_faces} gallery "
        f"faces from {report.gallery_photos} photos.",
        f"{report.non_mated_searches} non-mated searches (each mated probe searched again "
        "without its own person, and probes of people not in the gallery): FPIR below "
        f"{1 / max(report.non_mated_searches, 1):.2%} cannot be measured on this set.",
        f"The operating threshold is what a search of {report.gallery_faces} faces uses at a "
        f"target FPIR of {report.target_fpir:g} (from the shipped calibration); per-group FMR "
        "counts different-person pairs within one group.",
    ]
    if report.probes_without_face:
        notes.append(f"{report.probes_without_face} probe(s) had no face found: counted as misses.")
    return notes
