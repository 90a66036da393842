"""What a saved index holds, read from its first bytes without loading it.

``facesift stats`` wants the number of vectors and the kind of index. Loading the index for
that means importing FAISS (about 0.1 s) and reading every vector (a 10M-face IVF index is
hundreds of MB), which is why ``stats`` took 0.6-2.5 s. Every FAISS index file starts with a
four-letter code and the same header (dimension as int32, vector count as int64), whatever
the kind; inverted-file indexes have codes starting ``Iw``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

INDEX_FILE = "faces.faiss"  # in the data folder, beside the records
_HEADER = struct.Struct("<4siq")  # four-letter code, dimension, vector count


@dataclass(frozen=True)
class IndexFileSummary:
    kind: str  # the class that would open it: "FlatIndex" or "IvfIndex"
    dim: int
    count: int


def read_index_header(path: Path) -> IndexFileSummary:
    """The summary of the FAISS index at ``path``; ValueError if it is not one."""
    with path.open("rb") as handle:
        head = handle.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise ValueError(f"{path} is too short to be a FAISS index ({len(head)} bytes)")
    code, dim, count = _HEADER.unpack(head)
    if not code.isalnum() or not code.startswith(b"I") or dim <= 0 or count < 0:
        raise ValueError(f"{path} does not start with a FAISS index header")
    return IndexFileSummary("IvfIndex" if code.startswith(b"Iw") else "FlatIndex", dim, count)
