"""The embedding contract: what an embedder promises, so vectors are only ever compared with
vectors of the same model, cut the same way.

An embedder states its model id, its vector size and the chip geometry it was trained on. Two
vectors are comparable exactly when their contracts are equal; a gallery records its contract
and refuses vectors of any other (``services.gallery``). The model id of a user's own ONNX
file is derived from the file's SHA-256 and the declared geometry (``onnx_embedder``), so a
retrained or re-exported file, or the same file cut another way, is another model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChipGeometry:
    """How a face is cut out for the embedder: a square ``size`` px chip, rotated and scaled
    so that dlib's five landmarks land on dlib's template, with ``padding`` (a share of the
    face's width) around it on every side. dlib's ResNet wants 150 px with 0.25."""

    size: int = 150
    padding: float = 0.25

    def __post_init__(self) -> None:
        if not 16 <= self.size <= 1024:
            raise ValueError(f"a chip is 16 to 1024 px wide, not {self.size}")
        if not 0.0 <= self.padding <= 1.0:
            raise ValueError(f"chip padding is a share between 0 and 1, not {self.padding}")

    def label(self) -> str:
        return f"{self.size}px-p{self.padding:g}"


DLIB_CHIP = ChipGeometry()


@dataclass(frozen=True)
class EmbeddingContract:
    """What an embedder's vectors are: which model made them, how long they are, and how
    the faces were cut out for it."""

    model_id: str
    dim: int
    chip: ChipGeometry = DLIB_CHIP

    def as_dict(self) -> dict:
        return {
            "model_id": self.model_id,
            "dim": self.dim,
            "chip_size": self.chip.size,
            "chip_padding": self.chip.padding,
        }
