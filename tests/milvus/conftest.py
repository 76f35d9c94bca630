"""Backends under test: the embedded engine, Milvus Lite and a Milvus standalone server (one server
per test session, one Milvus database per test module), one instance of each per test module.

Every scenario creates the same collection on each backend (a fresh name per test), runs the same
calls, and compares the answers with each other and with a numpy / reference-evaluator truth.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Mapping

import numpy as np
import pytest

from xmodal.db import connect
from xmodal.db.api import BaseCollection, BaseDatabase, VectorField

BACKENDS = ("embedded", "milvus-lite", "milvus")
_names = itertools.count()
_databases = itertools.count()  # one Milvus database per test module: m0, m1, ...
def open_backend(kind: str, folder, server_uri: str) -> BaseDatabase:
    """Open (or reopen) one backend's database stored under ``folder`` (or at ``server_uri``)."""
    if kind == "embedded":
        return connect(str(folder / "embedded"))
    if kind == "milvus":
        return connect(server_uri)
    return connect(f"milvus-lite:{folder / 'lite.db'}")


class Backends:
    """The databases of one test module, reopenable (for the reopen scenarios)."""

    def __init__(self, folder, server_uri: str):
        self.folder = folder
        self.server_uri = server_uri
        self.dbs: dict[str, BaseDatabase] = {k: open_backend(k, folder, server_uri) for k in BACKENDS}

    def create(self, vectors: Mapping[str, VectorField], payload_schema: Mapping[str, str] | None = None,
               metadata: Mapping[str, Any] | None = None,
               on: tuple[str, ...] = BACKENDS) -> tuple[str, dict[str, BaseCollection]]:
        """The same new collection on each backend in ``on`` (all by default)."""
        name = f"c{next(_names)}"
        return name, {k: db.create_collection(name, vectors, payload_schema, metadata)
                      for k, db in self.dbs.items() if k in on}

    def reopen(self) -> None:
        for db in self.dbs.values():
            db.close()
        self.dbs = {k: open_backend(k, self.folder, self.server_uri) for k in BACKENDS}

    def collections(self, name: str) -> dict[str, BaseCollection]:
        return {k: db.collection(name) for k, db in self.dbs.items()}

    def close(self) -> None:
        for db in self.dbs.values():
            db.close()


@pytest.fixture(scope="module")
def backends(tmp_path_factory, milvus_server):
    b = Backends(tmp_path_factory.mktemp("backends"), f"milvus://{milvus_server}/m{next(_databases)}")
    yield b
    b.close()


def on_all(cols: Mapping[str, BaseCollection], call: Callable[[BaseCollection], Any]) -> dict[str, Any]:
    """The same call on every backend's collection."""
    return {k: call(c) for k, c in cols.items()}


def clustered(n: int, dim: int, seed: int, clusters: int = 8) -> np.ndarray:
    """Clustered data (like real embeddings) so approximate indexes have structure to find."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32) * 3
    return (centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, dim))).astype(np.float32)
