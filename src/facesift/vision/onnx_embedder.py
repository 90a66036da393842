"""A user's own embedder: an ONNX model file they hold, under its own licence.

facesift never downloads a model. A user who holds another embedder (an ArcFace export, say,
or a model of their own) names the file (``--embedder-model FILE`` or
``$FACESIFT_VISION__EMBEDDER_MODEL``). What facesift needs to know beyond the graph is declared in
``FILE.json`` beside it, every key optional:

``chip_size``
    the chip's side in px (default: the model input's, when it is fixed; else 150)
``chip_padding``
    padding around dlib's five-point template, a share of the face width (default 0.25)
``dim``
    the vector size; checked against the model's output (default: the output's)
``channels``
    ``"rgb"`` or ``"bgr"`` (default ``"rgb"``)
``pixel_mean``, ``pixel_scale``
    a float input gets ``(pixel - mean) * scale`` (default 127.5 and 1/128, ArcFace's); a
    uint8 input gets the pixels as they are
``calibration``
    a calibration file for this model (``facesift eval lfw --embedder-model FILE
    --identification --write-calibration CAL``), relative to the declaration

The input layout (NHWC or NCHW) is read from the model's input shape. The model id is
``onnx-`` followed by the first 16 hex digits of the file's SHA-256 and the chip geometry,
so any other file, or the same file cut another way, is another model: a gallery refuses its
vectors until ``facesift index rebuild --reembed``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from facesift.errors import FacesiftError
from facesift.machine import usable_cores
from facesift.vision.contract import ChipGeometry, EmbeddingContract
from facesift.vision.onnx_session import default_providers, session_options
from facesift.vision.resnet_onnx import file_sha256

DECLARATION_SUFFIX = ".json"
_KEYS = {"chip_size", "chip_padding", "dim", "channels", "pixel_mean", "pixel_scale", "calibration"}


class EmbedderModelError(FacesiftError):
    """A user's model file or its declaration cannot be used; the message says why."""

    code = "bad_embedder_model"


@dataclass(frozen=True)
class EmbedderModel:
    """A user's ONNX embedder and what is declared about it."""

    path: Path
    sha256: str
    chip: ChipGeometry
    channels: str = "rgb"
    pixel_mean: float = 127.5
    pixel_scale: float = 1 / 128
    dim: int | None = None  # None: the model output's
    calibration: Path | None = None

    @property
    def model_id(self) -> str:
        return f"onnx-{self.sha256[:16]}-{self.chip.label()}"

    @classmethod
    def load(cls, path: str | Path) -> EmbedderModel:
        """The model at ``path`` with its declaration (``path`` + ``.json``) if there is one."""
        path = Path(path).expanduser().resolve()
        if not path.is_file():
            raise EmbedderModelError(f"the embedder model {path} is not a file")
        return _load(path, _stamp(path), _stamp(_declaration_path(path)))


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _declaration_path(path: Path) -> Path:
    return path.with_name(path.name + DECLARATION_SUFFIX)


@functools.lru_cache(maxsize=8)
def _load(path: Path, *stamps: tuple[int, int] | None) -> EmbedderModel:
    """Cached by the files' times and sizes: hashing a large model takes a while."""
    declared = _declaration(path)
    input_size = _fixed_input_size(path)
    try:
        chip = ChipGeometry(
            size=int(declared.get("chip_size") or input_size or 150),
            padding=float(declared.get("chip_padding", 0.25)),
        )
    except (TypeError, ValueError) as exc:
        raise EmbedderModelError(f"the declaration of {path}: {exc}") from None
    channels = str(declared.get("channels", "rgb")).lower()
    if channels not in ("rgb", "bgr"):
        raise EmbedderModelError(f"channels is rgb or bgr, not {channels!r}")
    calibration = declared.get("calibration")
    return EmbedderModel(
        path=path,
        sha256=file_sha256(path),
        chip=chip,
        channels=channels,
        pixel_mean=float(declared.get("pixel_mean", 127.5)),
        pixel_scale=float(declared.get("pixel_scale", 1 / 128)),
        dim=int(declared["dim"]) if declared.get("dim") else None,
        calibration=(path.parent / calibration).resolve() if calibration else None,
    )


def _declaration(path: Path) -> dict:
    file = _declaration_path(path)
    if not file.is_file():
        return {}
    try:
        declared = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EmbedderModelError(f"cannot read the declaration {file}: {exc}") from None
    if not isinstance(declared, dict) or set(declared) - _KEYS:
        unknown = sorted(set(declared) - _KEYS) if isinstance(declared, dict) else declared
        raise EmbedderModelError(
            f"the declaration {file} is a JSON object of {', '.join(sorted(_KEYS))}; "
            f"unknown: {unknown}"
        )
    return declared


def _fixed_input_size(path: Path) -> int | None:
    """The chip side the model's input fixes, if it does (from the graph, not run)."""
    session = _session(path, 1)
    shape = session.get_inputs()[0].shape
    sides = [d for d in shape[1:] if isinstance(d, int) and d != 3]
    return sides[0] if len(sides) == 2 and sides[0] == sides[1] else None


def _session(path: Path, threads: int) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(
            str(path), session_options(threads), providers=default_providers()
        )
    except Exception as exc:  # onnxruntime raises its own several kinds
        raise EmbedderModelError(
            f"{path} is not an ONNX model onnxruntime can run: {exc}"
        ) from None


class OnnxFileEmbedder:
    """Runs a user's ONNX embedder on chips cut to its declared geometry."""

    def __init__(self, model: EmbedderModel, threads: int | None = None):
        self.model = model
        self._session = _session(model.path, threads or usable_cores())
        first = self._session.get_inputs()[0]
        self._input = first.name
        self._uint8 = first.type == "tensor(uint8)"
        self._nchw = len(first.shape) == 4 and first.shape[1] == 3
        out_dim = self._session.get_outputs()[0].shape[-1]
        probe = np.zeros((1, model.chip.size, model.chip.size, 3), dtype=np.uint8)
        dim = self._run(probe).shape[1]  # one blank chip: the graph really takes this size
        if isinstance(out_dim, int) and out_dim != dim:
            raise EmbedderModelError(f"{model.path} says {out_dim} outputs but gave {dim}")
        if model.dim is not None and model.dim != dim:
            raise EmbedderModelError(f"{model.path} is declared {model.dim}-d but gives {dim}-d")
        self.contract = EmbeddingContract(model.model_id, dim, model.chip)
        self.model_id = model.model_id
        self.dim = dim

    def _run(self, chips: np.ndarray) -> np.ndarray:
        x = chips[..., ::-1] if self.model.channels == "bgr" else chips
        if not self._uint8:
            x = (x.astype(np.float32) - self.model.pixel_mean) * self.model.pixel_scale
        if self._nchw:
            x = x.transpose(0, 3, 1, 2)
        try:
            (vectors,) = self._session.run(None, {self._input: np.ascontiguousarray(x)})[:1]
        except Exception as exc:
            raise EmbedderModelError(
                f"{self.model.path} does not take {self.model.chip.size} px chips: {exc}"
            ) from None
        return np.asarray(vectors, dtype=np.float32).reshape(len(chips), -1)

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """(N, size, size, 3) uint8 RGB chips -> (N, dim) float32 vectors."""
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._run(np.asarray(chips))
