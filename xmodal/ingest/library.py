"""A media library: one database collection + the encoder it was indexed with + a side store.

The facade over the parts of :mod:`xmodal.ingest`: the row model (:mod:`~xmodal.ingest.layout`),
writing (:mod:`~xmodal.ingest.indexer`), querying (:mod:`~xmodal.ingest.search`, policy in
:mod:`~xmodal.ingest.ranking`), reading rows (:mod:`~xmodal.ingest.reader`) and what lives beside
the vector backend (:mod:`~xmodal.ingest.store`). Applications and the server read the library
through the typed read API here, never through raw rows.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from xmodal.config import Config
from xmodal.db import VectorField, connect, locate
from xmodal.db.api import BaseCollection
from xmodal.encoders import get_encoder
from xmodal.errors import ModelMismatch, NotFound
from xmodal.ingest import reader
from xmodal.ingest.encode import fields_for
from xmodal.ingest.files import KINDS
from xmodal.ingest.indexer import Indexer
from xmodal.ingest.layout import ITEM_ROWS, PAYLOAD_SCHEMA, side_folder
from xmodal.ingest.ranking import Calibration, load_calibration
from xmodal.ingest.results import IndexReport, Item, SearchResults, StoredRow
from xmodal.ingest.search import Searcher
from xmodal.ingest.store import SideStore

__all__ = ["Library"]


class Library:
    """Index folders of mixed media and search them by text, image or speech.

    Open with :func:`xmodal.open`. The model is fixed when the collection is first written and
    remembered in its metadata; opening it with another model raises :class:`ModelMismatch`.
    """

    def __init__(self, db, uri: str, collection: str, model: str | None = None, settings: Config | None = None):
        self.db = db
        self.settings = settings or Config()  # passed on to the encoder and the media decoders
        self.uri = uri
        self.collection_name = collection
        stored = self._collection_or_none()
        stored_model = stored.metadata.get("model") if stored is not None else None
        if model is not None and stored_model is not None and model != stored_model:
            raise ModelMismatch(
                f"collection {collection!r} in {uri} was indexed with model {stored_model!r}; "
                f"it cannot be queried or extended with {model!r} (drop the --model option or use a new --collection)")
        self.model = stored_model or model or self.settings.encoders.default_model
        self.side = side_folder(uri)
        self.store = SideStore(self.side / collection, self.settings)
        self._encoder = None
        self._calibration: Calibration | None | bool = False  # False: not looked up yet

    @classmethod
    def open(cls, path: str | os.PathLike, collection: str | None = None, model: str | None = None,
             mode: str = "auto", settings: Config | None = None) -> "Library":
        """``mode`` is the local database's: "auto" writes when no other process does, "r" only
        reads (never takes the writer lock, so readers never stand in a writer's way), "w" insists
        on writing. Milvus URIs ignore it (the server arbitrates). ``settings``: the database's,
        the encoder's, the decoders' and the library's own (its default collection and model, batch
        sizes, ranking); default ``Config()``, which never reads the environment: the faces
        (:func:`xmodal.open`, the CLI, the server) pass ``Config.from_env()``."""
        settings = settings or Config()
        uri = str(path)
        db = connect(uri, settings, mode=mode) if locate(uri).embedded else connect(uri, settings)
        return cls(db, uri, collection or settings.ingest.default_collection, model, settings)

    @property
    def _in_limit(self) -> int:
        """Most values in one ``$in`` filter the read API sends (the database's limit)."""
        return self.settings.db.max_filter_in_values

    def own_paths(self) -> list[Path]:
        """The files and folders this library keeps on the local disk (never indexed as media)."""
        where = locate(self.uri)
        return [self.side] + ([where.path] if where.path is not None else [])

    def close(self) -> None:
        self.store.close()
        self.db.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def encoder(self):
        """The encoder, loaded on first use (loading a model costs seconds; `info` never needs it)."""
        if self._encoder is None:
            self._encoder = get_encoder(self.model, settings=self.settings)
        return self._encoder

    @property
    def calibration(self) -> Calibration | None:
        """The model's score-to-relevance mappings (see :mod:`xmodal.ingest.ranking`); ``None`` for a
        model nobody calibrated yet, whose searches fall back to reciprocal-rank fusion."""
        if self._calibration is False:
            self._calibration = load_calibration(self.model)
        return self._calibration  # type: ignore[return-value]

    def _collection_or_none(self):
        return self.db.collection(self.collection_name) if self.db.has_collection(self.collection_name) else None

    def _collection(self, create: bool = False):
        col = self._collection_or_none()
        if col is None and create:
            enc = self.encoder
            vectors = {f: VectorField(dim=enc.dim, metric="cosine", index="hnsw") for f in fields_for(enc)}
            col = self.db.create_collection(
                self.collection_name, vectors=vectors, payload_schema=PAYLOAD_SCHEMA,
                metadata={"model": self.model, "dim": enc.dim, "fields": list(vectors), "created_by": "xmodal.ingest"})
        return col

    def _indexed(self):
        """The collection, for reading; NotFound when nothing was indexed yet."""
        col = self._collection_or_none()
        if col is None:
            raise NotFound(f"the library {self.uri} is empty: index some files first")
        return col

    def _indexer(self) -> Indexer:
        return Indexer(self._collection, self.store, self.model, lambda: self.encoder, self.settings)

    def _searcher(self, col) -> Searcher:
        return Searcher(col, self.store, self.model, lambda: self.encoder, lambda: self.calibration, self.settings)

    def index(self, paths: Iterable[str | os.PathLike], prune: bool = False, workers: int | None = None,
              ocr: bool = True, speech: bool = True, progress: bool | None = None, runner=None,
              on_batch: Callable[[IndexReport], None] | None = None) -> IndexReport:
        """Bring the library in step with ``paths`` (files or folders): encode new and changed files,
        skip unchanged ones without reading them, store duplicates once, and with ``prune`` forget
        files that disappeared from under ``paths``. One bad file never stops the run; Ctrl-C stops
        it with everything written so far kept (the report says ``interrupted``). The library's own
        folders are never scanned, even when they lie under ``paths``. ``runner``: any runner of
        ``Job`` batches (default :class:`~xmodal.ingest.workers.LocalRunner`).

        ``on_batch(report)`` runs after each batch is durably written (the report so far), so a
        caller can announce progress that is already safe (and tests can act on it, not on timing)."""
        return self._indexer().index([str(p) for p in paths], self.own_paths(), prune, workers, ocr, speech,
                                     progress, runner, on_batch)

    def remove(self, paths: Iterable[str | os.PathLike]) -> int:
        """Forget files (or everything under folders) whether or not they still exist on disk.
        Returns the number of paths removed; a path the library does not hold raises NotFound."""
        return self._indexer().remove(paths, self.uri)

    def drop(self) -> None:
        """Delete the whole collection and its side store (the media files are not touched)."""
        if self.db.has_collection(self.collection_name):
            self.db.drop_collection(self.collection_name)
        self.store.drop()

    def search(self, text: str | None = None, image: Any = None, audio: str | os.PathLike | None = None,
               kind: str | Sequence[str] | None = None, where: Mapping | None = None, k: int = 10,
               keyword: bool = True, min_relevance: float | None = 0.0, fusion: str | None = None
               ) -> SearchResults:
        """Items best matching a text, an image (path or PIL image) or a speech clip, over every
        vector field and BM25 keyword matches, best first by ``relevance`` in [0, 1].

        Text and speech queries: each signal's raw score goes through the model's calibration and
        the signals are fused by probabilistic OR (``fusion="calibrated"``, the default of
        the library's ``settings.ingest.fusion``), so kinds compete on one scale; ``fusion="rrf"`` orders by
        reciprocal-rank fusion instead. Results under ``min_relevance`` are left out (``None``: the
        default cut ``settings.ingest.min_relevance`` when the relevance is calibrated, else none).
        A model without a calibration (see ``python -m xmodal.ingest.calibrate``) falls back to
        RRF, with the best cosine as relevance; ``results.calibrated`` says which one you got."""
        return self._searcher(self._collection_or_none()).search(text, image, audio, kind, where, k, keyword,
                                                                 min_relevance, fusion)

    def similar(self, item: str | os.PathLike, k: int = 10, kind: str | Sequence[str] | None = None,
                where: Mapping | None = None) -> SearchResults:
        """More like this: items nearest to a stored item (named by path or id), itself excluded, of
        the item's own kind unless ``kind`` names others (``"all"``: every kind). ``relevance`` is
        the best cosine similarity (an item-to-item calibration is not fitted yet)."""
        col = self._collection_or_none()
        if col is None:
            raise NotFound(f"{item}: the library {self.uri} is empty")
        found = self.item(str(item))
        return self._searcher(col).similar(col.get([found.id], with_vectors=True)[0], k, kind, where)

    def item(self, key: str, *, with_vectors: bool = False, paths: bool = True) -> Item:
        """The item whose id (a client's ``ref``) is ``key``, or that holds the file ``key`` names
        (as typed or resolved; ``paths=False``: ids only). NotFound when the library lacks it."""
        found = reader.find_item(self._indexed(), str(key), paths, with_vectors)
        if found is None:
            raise NotFound(f"{key}: not in the library {self.uri} (index it first)")
        return found

    def items(self, paths: Sequence[str], *, kinds: Sequence[str] | None = None, where: Mapping | None = None,
              with_vectors: bool = False) -> dict[str, Item]:
        """``{path: Item}`` for those of ``paths`` the library holds and the filters admit."""
        return reader.items_at(self._indexed(), paths, kinds, where, with_vectors, in_limit=self._in_limit)

    def item_vectors(self, paths: Sequence[str]) -> dict[str, np.ndarray]:
        """``{path: the item's main vector}``; a path the library lacks raises NotFound."""
        return reader.item_vectors(self._indexed(), paths, self.uri, in_limit=self._in_limit)

    def nearest_items(self, queries: np.ndarray, k: int, *, kinds: Sequence[str] | None = None,
                      where: Mapping | None = None) -> list[list[Item]]:
        """Per query vector, the ``k`` nearest items over every vector field, best first."""
        return reader.nearest_items(self._indexed(), queries, k, kinds, where)

    def nearest_rows(self, item_ids: Sequence[str], queries: np.ndarray, k: int) -> dict[str, list[StoredRow]]:
        """Per item: its own row and, in each vector field, its ``k`` rows nearest each query."""
        return reader.nearest_rows(self._indexed(), item_ids, queries, k, in_limit=self._in_limit)

    def row_similarities(self, field: str, queries: np.ndarray, k: int) -> list[np.ndarray]:
        """Per query, its similarities to its ``k`` nearest rows in vector ``field`` (none when the
        library lacks the field): the spread a match must stand out from."""
        return reader.row_similarities(self._indexed(), field, queries, k)

    def passages(self, rows: Sequence[StoredRow]) -> dict[str, str]:
        """``{row id: the whole passage}`` behind rows' evidence (which is cut at ``evidence_chars``)."""
        return reader.passages(self.store.keywords, rows)

    @property
    def dim(self) -> int:
        """The dimension of the library's vectors."""
        col = self._indexed()
        return int(col.metadata.get("dim") or next(iter(col.vector_fields.values())).dim)

    def companion_collection(self, suffix: str, vectors: Mapping[str, VectorField], payload_schema: Mapping[str, str],
                             metadata: Mapping | None = None) -> BaseCollection:
        """A collection named ``<library's collection><suffix>`` in the library's database, created
        on first use: what an application keeps about the library (interactions, profiles) then
        travels with it, on every backend."""
        return self.db.create_collection(self.collection_name + suffix, vectors=vectors,
                                         payload_schema=payload_schema, metadata=metadata, exist_ok=True)

    def info(self) -> dict:
        """What the library holds: items by kind, rows, model, vector fields, keyword passages."""
        col = self._collection_or_none()
        out: dict = {"library": self.uri, "collection": self.collection_name, "model": self.model,
                     "items": 0, "by_kind": dict.fromkeys(KINDS, 0), "rows": 0, "fields": [], "paths": 0}
        if col is None:
            return out
        out["fields"] = sorted(col.vector_fields)
        out["rows"] = col.count()
        for kind in KINDS:
            out["by_kind"][kind] = col.count(where={**ITEM_ROWS, "kind": kind})
        out["items"] = sum(out["by_kind"].values())
        out["paths"] = sum(len(r.payload.get("files") or {}) for r in col.scroll(where=ITEM_ROWS))
        out["keyword_passages"] = self.store.keywords.count()
        out["collections"] = self.db.list_collections()
        return out
