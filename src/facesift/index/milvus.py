"""Face vectors in a Milvus server: the vector back end for galleries past one machine.

``milvus://HOST:PORT/NAME`` keeps the vectors in the Milvus collection ``NAME`` (options:
``?index=IVF_SQ8|IVF_FLAT|IVF_PQ|HNSW|FLAT`` when the collection is created, with its
build parameters, e.g. ``&nlist=2048`` or ``&M=32&efConstruction=300``; its search
parameters, e.g. ``&nprobe=128`` or ``&ef=256``; and
``&consistency=Bounded|Session|Strong|Eventually`` for searches); the records
stay in the store, which remains the source of truth (``Gallery`` drops any id the store
does not hold, so a removed or opted-out face never comes back from a stale replica).

Choices, and what they rest on (a real ``milvus-server`` 2.3.5 on the project's 2-core
machine; the consistency timings are issue 14's, the partition-key finding this module's):

- **Consistency ``Bounded``.** A search at ``Strong`` took about 195 ms, at ``Bounded``
  about 4 ms. ``Bounded`` may miss a face added in the last few seconds and may still
  return one deleted in that time; the gallery asks for ``STALE_MARGIN`` extra neighbours
  and keeps only ids the store holds, so deletions never show, and new faces appear within
  Milvus's staleness bound (a few seconds).
- **The collection as an indexed scalar field.** Each vector carries its facesift
  collection's id in a scalar field with a sorted index, so a search of one collection is
  filtered inside Milvus, not after it. Not a partition key: with the field as partition
  key, Milvus 2.3.5 returned 3 of 20 neighbours asked for under a filter on it (FLAT and
  IVF_SQ8 alike, at ``Strong``), and all 20 with a plain field.
- **Distances.** Milvus's L2 metric reports squared distances; they are returned as plain
  Euclidean distances, like the FAISS indexes, because the calibration is in those.
- **Index type.** ``IVF_SQ8`` by default: the best mate recall of the three measured at 1M
  faces (bench/README.md); HNSW had the better tail. Each type's parameters default to
  ``DEFAULT_INDEX_PARAMS`` and ``DEFAULT_SEARCH_PARAMS``, and any of them can be set in
  the URL; a parameter the type does not take, or a value out of range, is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

import numpy as np

from facesift.errors import FacesiftError
from facesift.index.base import IdFilter, as_batch

QUERY_WINDOW = 16_384  # the most rows one Milvus query returns
STALE_MARGIN = 16  # extra neighbours asked for, to make up for ids the store drops
INSERT_BATCH = 5_000
DEFAULT_INDEX_TYPE = "IVF_SQ8"
DEFAULT_INDEX_PARAMS: dict[str, dict[str, int]] = {
    "IVF_SQ8": {"nlist": 1024},
    "IVF_FLAT": {"nlist": 1024},
    "IVF_PQ": {"nlist": 1024, "m": 32, "nbits": 8},
    "HNSW": {"M": 16, "efConstruction": 200},
    "FLAT": {},
}
DEFAULT_SEARCH_PARAMS: dict[str, dict[str, int]] = {
    "IVF_SQ8": {"nprobe": 64},
    "IVF_FLAT": {"nprobe": 64},
    "IVF_PQ": {"nprobe": 64},
    "HNSW": {"ef": 128},
    "FLAT": {},
}
PARAM_RANGE = (1, 65_536)  # every build and search parameter above is a count in this range
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
CONSISTENCY_LEVELS = ("Bounded", "Session", "Strong", "Eventually")


@dataclass(frozen=True)
class MilvusTarget:
    """Where the vectors live, from ``milvus://HOST:PORT/NAME``."""

    host: str
    port: int
    name: str
    index_type: str = DEFAULT_INDEX_TYPE
    consistency: str = "Bounded"
    index_params: dict[str, int] = field(default_factory=dict)
    search_params: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str, index_type: str | None = None) -> MilvusTarget:
        parsed = urlparse(url)
        name = parsed.path.lstrip("/")
        if parsed.scheme != "milvus" or not parsed.hostname or not _NAME.match(name):
            raise FacesiftError(
                f"vectors URL {url!r} is not milvus://HOST:PORT/NAME (NAME: letters, digits, _)"
            )
        options = dict(parse_qsl(parsed.query))
        index_type = index_type or options.pop("index", DEFAULT_INDEX_TYPE)
        options.pop("index", None)
        if index_type not in DEFAULT_INDEX_PARAMS:
            known = ", ".join(DEFAULT_INDEX_PARAMS)
            raise FacesiftError(f"unknown Milvus index type {index_type!r}; one of {known}")
        consistency = options.pop("consistency", "Bounded")
        if consistency not in CONSISTENCY_LEVELS:
            known = ", ".join(CONSISTENCY_LEVELS)
            raise FacesiftError(f"unknown consistency {consistency!r}; one of {known}")
        build = _params(options, DEFAULT_INDEX_PARAMS[index_type])
        search = _params(options, DEFAULT_SEARCH_PARAMS[index_type])
        if options:
            takes = [*DEFAULT_INDEX_PARAMS[index_type], *DEFAULT_SEARCH_PARAMS[index_type]]
            raise FacesiftError(
                f"unknown vectors URL options for {index_type}: {', '.join(sorted(options))}"
                f" (it takes index, consistency{''.join(', ' + p for p in takes)})"
            )
        return cls(
            parsed.hostname, parsed.port or 19530, name, index_type, consistency, build, search
        )

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"


def _params(options: dict[str, str], defaults: dict[str, int]) -> dict[str, int]:
    """Take the URL options named in ``defaults`` out of ``options``, as bounded counts."""
    low, high = PARAM_RANGE
    taken = {}
    for name in defaults:
        if name in options:
            text = options.pop(name)
            if not text.isdigit() or not low <= int(text) <= high:
                raise FacesiftError(
                    f"vectors URL option {name}={text!r} is not a whole number from {low} to "
                    f"{high:,}"
                )
            taken[name] = int(text)
    return taken


class MilvusIndex:
    """A ``VectorIndex`` over one Milvus collection. Thread-safe as the client is."""

    remote = True  # the gallery filters by collection id and drops ids the store lacks

    def __init__(self, target: MilvusTarget, dim: int = 128, client: Any = None):
        from pymilvus import MilvusClient  # imported here: only Milvus users need it

        self.dim = dim
        self.target = target
        self._client = client or MilvusClient(uri=target.uri, timeout=30)
        if not self._client.has_collection(target.name):
            self._create()
        self._client.load_collection(target.name)

    def _create(self) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("collection", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        params = self._client.prepare_index_params()
        index_type = self.target.index_type
        params.add_index(
            field_name="vector",
            index_type=index_type,
            metric_type="L2",
            params=DEFAULT_INDEX_PARAMS[index_type] | self.target.index_params,
        )
        params.add_index(field_name="collection", index_type="STL_SORT")
        self._client.create_collection(
            self.target.name, schema=schema, index_params=params, consistency_level="Bounded"
        )

    def __len__(self) -> int:
        rows = self._client.query(
            self.target.name, filter="", output_fields=["count(*)"], consistency_level="Strong"
        )
        return int(rows[0]["count(*)"])

    def add(self, ids: np.ndarray, vectors: np.ndarray, groups: np.ndarray | None = None) -> None:
        """Insert (or replace) vectors; ``groups`` are their facesift collection ids."""
        if len(ids) == 0:
            return
        ids, vectors = as_batch(ids, vectors, self.dim)
        groups = np.zeros(len(ids), np.int64) if groups is None else np.asarray(groups, np.int64)
        for start in range(0, len(ids), INSERT_BATCH):
            stop = start + INSERT_BATCH
            rows = [
                {"id": int(i), "collection": int(g), "vector": v.tolist()}
                for i, g, v in zip(
                    ids[start:stop], groups[start:stop], vectors[start:stop], strict=True
                )
            ]
            self._client.upsert(self.target.name, rows)

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        result = self._client.delete(self.target.name, ids=[int(i) for i in ids])
        return int(result.get("delete_count", len(ids)) if isinstance(result, dict) else len(ids))

    def ids(self) -> np.ndarray:
        """Every id, read at Strong consistency: the repair on open compares them with the
        store and must see every write. Read in id windows of at most ``QUERY_WINDOW`` rows
        (Milvus's query_iterator here missed rows written a moment before)."""
        found: list[int] = []
        low, width = 0, QUERY_WINDOW
        while self._query(f"id >= {low}", 1):
            rows = self._query(f"id >= {low} and id < {low + width}", QUERY_WINDOW)
            if len(rows) >= QUERY_WINDOW and width > 1:
                width //= 2  # the window may hold more than one answer returns
                continue
            found += rows
            low += width
            if len(rows) < QUERY_WINDOW // 4:
                width *= 2
        return np.asarray(sorted(found), dtype=np.int64)

    def _query(self, where: str, limit: int) -> list[int]:
        rows = self._client.query(
            self.target.name,
            filter=where,
            output_fields=["id"],
            limit=limit,
            consistency_level="Strong",
        )
        return [int(row["id"]) for row in rows]

    def search(
        self,
        queries: np.ndarray,
        k: int,
        allowed_ids: IdFilter | np.ndarray | None = None,
        group: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest first; ``group`` keeps one collection, filtered inside Milvus."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        clauses = []
        if group is not None:
            clauses.append(f"collection == {int(group)}")
        if allowed_ids is not None:
            ids = IdFilter.of(allowed_ids).ids
            clauses.append(f"id in [{', '.join(str(int(i)) for i in ids)}]")
        index_type = self.target.index_type
        hits = self._client.search(
            self.target.name,
            data=[q.tolist() for q in queries],
            limit=max(1, k),
            filter=" and ".join(clauses),
            search_params={
                "metric_type": "L2",
                "params": DEFAULT_SEARCH_PARAMS[index_type] | self.target.search_params,
            },
            consistency_level=self.target.consistency,
        )
        distances = np.full((len(queries), max(1, k)), np.inf, dtype=np.float32)
        found = np.full(distances.shape, -1, dtype=np.int64)
        for row, results in enumerate(hits):
            for column, hit in enumerate(results[:k]):
                found[row, column] = int(hit["id"])
                distances[row, column] = np.sqrt(max(float(hit["distance"]), 0.0))
        return distances, found

    def save(self, path: Path) -> None:
        """Nothing to write: Milvus keeps the vectors."""
        del path

    def drop(self) -> None:
        """Delete the whole Milvus collection (tests, and ``index rebuild`` into a new one)."""
        self._client.drop_collection(self.target.name)
