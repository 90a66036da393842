"""Re-embedding a gallery with another model (``facesift index rebuild --reembed``), or with
its own model again, to repair its vectors (those embedded where onnxruntime's 8-bit kernels
saturated, before ``vision/onnx_session.py``): no promotion evidence is asked for that.

Vectors of two models cannot be compared, so a gallery holds one model's vectors and refuses
any other's (``Gallery.require_embedder``). Moving it to a new embedder means cutting every
face again from its source photo and embedding it with the new model:

1. Each stored image is read again from where it was ingested and checked against its
   SHA-256 (a changed or missing photo stops the run: its faces cannot be re-embedded, and a
   gallery half of one model and half of another would be worse than the old one). Its faces
   are cut at their *stored* landmarks, so the faces are exactly the ones reviewed before;
   only the vectors change.
2. The new vectors are staged in the database (``store.reembedding``), a batch of images a
   transaction, while the gallery serves its old vectors. An interrupted run resumes with the
   faces that have no new vector yet.
3. When every face has one, the index is dropped, and one transaction gives every face its
   new vector and model id and records the new model. The index is then rebuilt from the
   stored embeddings. A crash at any point leaves stored vectors of one model and an index
   rebuilt from them on the next open.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from facesift.errors import FacesiftError
from facesift.schemas import Detection
from facesift.services import index_build
from facesift.services.gallery import MODELS_SETTING, Gallery
from facesift.services.promotion import TOLERANCE_SETTING, check_promotion
from facesift.services.settings import Settings
from facesift.services.sources import SourceReader, item_for_recorded_path
from facesift.store.reembedding import ImageToEmbed
from facesift.vision import FaceAnalyzer
from facesift.vision.decode import DEFAULT_MAX_BYTES, decode_image

IMAGES_PER_BATCH = 32


@dataclass(frozen=True)
class ReembedReport:
    model_id: str
    previous_model_id: str | None
    faces: int  # faces that now carry the new model's vectors
    resumed: int  # faces whose new vectors an earlier, interrupted run had made
    index_kind: str


def reembed(
    gallery: Gallery,
    analyzer: FaceAnalyzer,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
    actor: str = "operator",
    batch: int = IMAGES_PER_BATCH,
    evaluation: dict | None = None,
) -> ReembedReport:
    """Give every face in ``gallery`` a vector of ``analyzer``'s embedder; see the module.
    ``evaluation``: the ``eval dataset`` document of that model the promotion gate asks for
    (``services.promotion``); checked before any work."""
    store, records = gallery.store, gallery.store.reembedding
    target = analyzer.model_id
    previous = (gallery.models() or {}).get("embedder")
    if previous == target:  # a repair (new vectors from the model in service), no promotion
        gate: dict = {"gate": "not needed: the gallery's own model"}
    else:
        gate = check_promotion(evaluation, target, Settings(store).get(TOLERANCE_SETTING))
    with store.transaction():
        records.forget_other_models(target)
    total = store.face_count()
    resumed = done = records.staged(target)
    on_progress(done, total)
    reader = SourceReader(DEFAULT_MAX_BYTES)
    try:
        while images := records.pending(target, batch):
            staged = [_embed_image(analyzer, reader, image) for image in images]
            with store.transaction():
                for image, vectors in zip(images, staged, strict=True):
                    records.stage(target, [f.face_id for f in image.faces], vectors)
            done += sum(len(image.faces) for image in images)
            on_progress(done, total)
    finally:
        reader.close()
    faces = _swap(gallery, analyzer, previous, actor, gate)
    report = index_build.rebuild(gallery, "auto")
    return ReembedReport(target, previous, faces, resumed, report.kind)


def _embed_image(analyzer: FaceAnalyzer, reader: SourceReader, image: ImageToEmbed) -> np.ndarray:
    """The new vectors of one image's faces, cut at their stored landmarks."""
    try:
        data = reader.read(item_for_recorded_path(image.path))
    except (OSError, FacesiftError) as exc:
        raise FacesiftError(
            f"cannot re-embed image {image.image_id}: its photo {image.path} cannot be read "
            f"({exc}). Put it back, or remove it (facesift remove --image), and run again"
        ) from None
    if hashlib.sha256(data).hexdigest() != image.sha256:
        raise FacesiftError(
            f"cannot re-embed image {image.image_id}: the photo at {image.path} is no longer "
            "the one ingested (its SHA-256 differs). Put the original back, or remove it "
            "(facesift remove --image), and run again"
        )
    pixels = np.ascontiguousarray(decode_image(data))
    detections = [Detection(f.box, f.detector_score) for f in image.faces]
    shapes = [analyzer.aligner.shape_from(f.box, f.landmarks) for f in image.faces]
    faces = analyzer.faces_from_shapes(pixels, detections, shapes)
    return np.stack([face.embedding for face in faces])


def _swap(
    gallery: Gallery, analyzer: FaceAnalyzer, previous: str | None, actor: str, gate: dict
) -> int:
    """Put the staged vectors in place of the old, with the new model's record."""
    store, records, target = gallery.store, gallery.store.reembedding, analyzer.model_id
    missing = records.missing(target)
    if missing:  # faces ingested meanwhile, with the old model
        raise FacesiftError(
            f"{missing} face(s) were added while re-embedding; run the same command again"
        )
    gallery.drop_index()
    models = gallery.models() or {"detectors": []}
    with store.transaction():
        if records.missing(target):
            raise FacesiftError("faces were added while re-embedding; run the command again")
        faces = records.apply(target)
        store.settings.put_setting(
            MODELS_SETTING,
            {"embedder": target, "detectors": models["detectors"], "dim": analyzer.embedder.dim},
            actor,
        )
        store.audit.append(
            "reembed",
            {"from_model": previous, "to_model": target, "faces": faces, "promotion": gate},
            actor,
        )
    return faces
