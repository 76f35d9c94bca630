"""The public shape of a database and a collection, shared by every backend.

The embedded engine (:mod:`xmodal.db.database`) and the Milvus backend (:mod:`xmodal.db.backends.milvus`)
both implement these abstract classes, so code above the database (ingestion, search, QA,
recommendation, the server) never knows which one it talks to -- as in qdrant-client's split
of one public client over local and remote backends.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Mapping, Sequence, Union

import numpy as np

__all__ = ["Metric", "METRICS", "INDEX_KINDS", "PAYLOAD_TYPES", "Id", "Filter", "VectorField", "Hit", "Record",
           "BaseCollection", "BaseDatabase"]

Metric = Literal["l2", "cosine", "ip"]
METRICS: tuple[str, ...] = ("l2", "cosine", "ip")
INDEX_KINDS: tuple[str, ...] = ("flat", "hnsw", "ivf_flat", "ivf_pq", "pq", "opq", "sq8", "lsh", "kdtree")
PAYLOAD_TYPES: tuple[str, ...] = ("str", "int", "float", "bool", "list[str]", "list[int]", "json")

Id = Union[int, str]
Filter = Mapping[str, Any]


@dataclass(frozen=True)
class VectorField:
    """A named vector field: its dimension, metric and index kind (+ index parameters)."""

    dim: int
    metric: Metric = "cosine"
    index: str = "flat"
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"dim": self.dim, "metric": self.metric, "index": self.index, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "VectorField":
        return cls(dim=int(d["dim"]), metric=d.get("metric", "cosine"), index=d.get("index", "flat"),
                   params=dict(d.get("params") or {}))


@dataclass
class Hit:
    """One search result. ``score`` is a similarity for cosine / ip (higher is better) and a
    Euclidean distance for l2 (lower is better)."""

    id: Id
    score: float
    payload: dict | None = None
    vectors: dict[str, np.ndarray] | None = None


@dataclass
class Record:
    id: Id
    payload: dict
    vectors: dict[str, np.ndarray] | None = None


class BaseCollection(abc.ABC):
    name: str

    @property
    @abc.abstractmethod
    def vector_fields(self) -> dict[str, VectorField]: ...

    @property
    @abc.abstractmethod
    def payload_schema(self) -> dict[str, str]: ...

    @property
    @abc.abstractmethod
    def metadata(self) -> dict:
        """Free-form JSON stored with the collection (e.g. the model it was indexed with)."""

    @abc.abstractmethod
    def set_metadata(self, metadata: Mapping[str, Any]) -> None: ...

    @abc.abstractmethod
    def upsert(self, ids: Sequence[Id], vectors: Mapping[str, np.ndarray],
               payloads: Sequence[Mapping[str, Any] | None] | None = None) -> None:
        """Insert or replace rows atomically (all or none). ``vectors`` may carry any non-empty
        subset of the collection's fields; a row lacks the fields not given."""

    @abc.abstractmethod
    def delete(self, ids: Sequence[Id] | None = None, where: Filter | None = None) -> int: ...

    @abc.abstractmethod
    def get(self, ids: Sequence[Id], with_vectors: bool = False) -> list[Record]:
        """The rows that exist, in the order asked; missing ids are skipped."""

    @abc.abstractmethod
    def count(self, where: Filter | None = None) -> int: ...

    @abc.abstractmethod
    def update_payload(self, ids: Sequence[Id], patch: Mapping[str, Any]) -> int:
        """Merge ``patch`` into each row's payload; returns the number of rows changed."""

    @abc.abstractmethod
    def scroll(self, where: Filter | None = None, batch_size: int = 1000,
               with_vectors: bool = False) -> Iterator[Record]: ...

    @abc.abstractmethod
    def search(self, field: str, queries: np.ndarray, k: int = 10, where: Filter | None = None,
               params: Mapping[str, Any] | None = None, with_payload: bool = True,
               with_vectors: bool = False) -> list[list[Hit]]: ...

    @abc.abstractmethod
    def range_search(self, field: str, queries: np.ndarray, radius: float, where: Filter | None = None,
                     with_payload: bool = True) -> list[list[Hit]]:
        """All rows within ``radius``: Euclidean distance for l2, 1 - cosine for cosine."""

    @abc.abstractmethod
    def threshold_search(self, field: str, queries: np.ndarray, min_similarity: float,
                         where: Filter | None = None, with_payload: bool = True) -> list[list[Hit]]:
        """All rows with similarity >= ``min_similarity`` (cosine / ip fields)."""

    def flush(self) -> None:
        """Persist derived state (index snapshots) now; acknowledged writes are durable anyway."""

    def wait_for_maintenance(self, timeout: float | None = None) -> bool:
        """Block until background index work (training, compaction) is done; False on timeout."""
        return True


class BaseDatabase(abc.ABC):
    @abc.abstractmethod
    def create_collection(self, name: str, vectors: Mapping[str, VectorField],
                          payload_schema: Mapping[str, str] | None = None,
                          metadata: Mapping[str, Any] | None = None,
                          exist_ok: bool = False) -> BaseCollection: ...

    @abc.abstractmethod
    def collection(self, name: str) -> BaseCollection: ...

    @abc.abstractmethod
    def list_collections(self) -> list[str]: ...

    @abc.abstractmethod
    def drop_collection(self, name: str) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def has_collection(self, name: str) -> bool:
        return name in self.list_collections()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
