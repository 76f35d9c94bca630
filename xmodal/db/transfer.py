"""Stream a collection (vectors, payloads, schema, metadata) between backends or to / from Parquet.

A transfer reads a *source* in a stable order and writes it to a *sink* batch by batch, recording a
checkpoint (rows done, the last id written) after every batch. An interrupted transfer started
again with the same checkpoint skips what was already written: upserts are idempotent, so a batch
written twice (a crash between the write and the checkpoint) is harmless. If the source changed
under the checkpoint (the id at the recorded position differs), the transfer starts over rather
than leave a silent hole.

Ends:

* a collection of any backend (``xmodal.db.connect(uri)`` + a name);
* ``parquet:FOLDER``: one ``part-NNNNNN.parquet`` file per batch plus ``_manifest.json`` holding the
  schema and metadata. Ids keep their type (``id`` + ``id_type``), payloads are JSON text, each
  vector field is a nullable fixed-size list column ``vec:<field>`` (null where a row lacks it).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

import numpy as np

from xmodal._optional import require
from xmodal.config import Config, MilvusConfig, cache_dir
from xmodal.db.api import BaseCollection, BaseDatabase, Record, VectorField
from xmodal.errors import InvalidInput, NotFound, StorageError

__all__ = ["PARQUET_PREFIX", "MANIFEST", "CHECKPOINT", "VECTOR_PREFIX", "FORMAT", "Schema", "TransferReport",
           "Source", "Sink", "CollectionSource", "CollectionSink", "ParquetSink", "ParquetSource",
           "default_checkpoint", "transfer", "open_source", "open_sink", "copy"]

PARQUET_PREFIX = "parquet:"
MANIFEST = "_manifest.json"
CHECKPOINT = "_checkpoint.json"
VECTOR_PREFIX = "vec:"
FORMAT = "xmodal-export/1"


@dataclass
class Schema:
    """Everything needed to recreate a collection elsewhere."""

    vectors: dict[str, VectorField]
    payload_schema: dict[str, str]
    metadata: dict
    name: str | None = None  # the collection's name where it came from

    def to_dict(self) -> dict:
        return {"collection": self.name, "vectors": {f: v.to_dict() for f, v in self.vectors.items()},
                "payload_schema": dict(self.payload_schema), "metadata": self.metadata}

    @classmethod
    def from_dict(cls, d: dict) -> "Schema":
        return cls({f: VectorField.from_dict(v) for f, v in d["vectors"].items()}, dict(d["payload_schema"]),
                   dict(d.get("metadata") or {}), d.get("collection"))

    @classmethod
    def of(cls, col: BaseCollection) -> "Schema":
        return cls(col.vector_fields, col.payload_schema, col.metadata, col.name)


@dataclass
class TransferReport:
    source: str
    sink: str
    rows: int = 0          # rows written by this run
    skipped: int = 0       # rows already written by an earlier, interrupted run
    batches: int = 0
    restarted: bool = False  # the checkpoint no longer matched the source
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


class Source(Protocol):
    description: str
    schema: Schema

    def count(self) -> int: ...

    def batches(self, size: int) -> Iterator[list[Record]]: ...


class Sink(Protocol):
    description: str
    created: bool  # prepare() made the destination (so a restart may empty it)

    def prepare(self, schema: Schema, fresh: bool, owned: bool = False) -> None: ...

    def write(self, batch_no: int, records: list[Record]) -> None: ...

    def finish(self, rows: int) -> None: ...


# ------------------------------------------------------------------------------ collections

class CollectionSource:
    def __init__(self, col: BaseCollection, description: str):
        self.col = col
        self.description = description
        self.schema = Schema.of(col)

    def count(self) -> int:
        return self.col.count()

    def batches(self, size: int) -> Iterator[list[Record]]:
        batch: list[Record] = []
        for rec in self.col.scroll(batch_size=size, with_vectors=True):
            batch.append(rec)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


class CollectionSink:
    """Writes into ``name`` of ``db``, creating it with the source's schema and metadata. An existing
    collection with the same vector fields is merged into (rows with the same id are replaced)."""

    def __init__(self, db: BaseDatabase, name: str, description: str):
        self.db = db
        self.name = name
        self.description = description
        self.col: BaseCollection | None = None
        self.created = False

    def prepare(self, schema: Schema, fresh: bool, owned: bool = False) -> None:
        """``owned``: an earlier run of this transfer created the collection, so a fresh start drops
        it (rows deleted from the source since then must not linger)."""
        if fresh and owned and self.db.has_collection(self.name):
            self.db.drop_collection(self.name)
        if self.db.has_collection(self.name):
            col = self.db.collection(self.name)
            mine = {f: (v.dim, v.metric) for f, v in col.vector_fields.items()}
            theirs = {f: (v.dim, v.metric) for f, v in schema.vectors.items()}
            if mine != theirs:
                raise InvalidInput(f"collection {self.name!r} in {self.description} exists with vector fields "
                                   f"{mine}, not {theirs}: choose another name")
            self.col = col
            return
        self.col = self.db.create_collection(self.name, schema.vectors, schema.payload_schema, schema.metadata)
        self.created = True

    def write(self, batch_no: int, records: list[Record]) -> None:
        assert self.col is not None
        for fields, group in _by_fields(records).items():
            self.col.upsert([r.id for r in group], {f: np.stack([r.vectors[f] for r in group]) for f in fields},
                            [r.payload for r in group])

    def finish(self, rows: int) -> None:
        pass


def _by_fields(records: list[Record]) -> dict[tuple[str, ...], list[Record]]:
    """Upserts take one set of vector fields per call: group rows by the fields they hold."""
    groups: dict[tuple[str, ...], list[Record]] = {}
    for r in records:
        fields = tuple(sorted(r.vectors or {}))
        if not fields:
            raise StorageError(f"record {r.id!r} holds no vector: cannot be written")
        groups.setdefault(fields, []).append(r)
    return groups


# ------------------------------------------------------------------------------ parquet

def _arrow_schema(schema: Schema):
    pa = require("pyarrow", "parquet")
    cols = [pa.field("id", pa.string(), nullable=False), pa.field("id_type", pa.string(), nullable=False),
            pa.field("payload", pa.string(), nullable=False)]
    cols += [pa.field(VECTOR_PREFIX + f, pa.list_(pa.float32(), v.dim), nullable=True)
             for f, v in schema.vectors.items()]
    return pa.schema(cols, metadata={b"xmodal": json.dumps(schema.to_dict()).encode()})


class ParquetSink:
    def __init__(self, folder: Path):
        self.folder = folder
        self.description = f"{PARQUET_PREFIX}{folder}"
        self.schema: Schema | None = None
        self.created = True  # an export folder belongs to its transfer

    def prepare(self, schema: Schema, fresh: bool, owned: bool = False) -> None:
        self.schema = schema
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if fresh:
                for part in self.folder.glob("part-*.parquet"):
                    part.unlink()
        except OSError as exc:
            raise StorageError(f"{self.description}: cannot prepare the folder: {exc}") from exc
        _write_json(self.folder / MANIFEST, {"format": FORMAT, "complete": False, **schema.to_dict()})

    def write(self, batch_no: int, records: list[Record]) -> None:
        pa = require("pyarrow", "parquet")
        pq = require("pyarrow.parquet", "parquet", package="pyarrow")
        assert self.schema is not None
        arrow = _arrow_schema(self.schema)
        data: dict[str, Any] = {
            "id": [str(r.id) for r in records],
            "id_type": ["int" if isinstance(r.id, int) else "str" for r in records],
            "payload": [json.dumps(r.payload, ensure_ascii=False) for r in records],
        }
        for f in self.schema.vectors:
            data[VECTOR_PREFIX + f] = [None if f not in (r.vectors or {}) else
                                       np.asarray(r.vectors[f], np.float32) for r in records]
        table = pa.Table.from_pydict(data, schema=arrow)
        final = self.folder / f"part-{batch_no:06d}.parquet"
        tmp = final.with_suffix(".tmp")
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, final)  # a part file is either whole or absent
        except OSError as exc:
            raise StorageError(f"{self.description}: cannot write {final.name}: {exc}") from exc

    def finish(self, rows: int) -> None:
        assert self.schema is not None
        parts = sorted(p.name for p in self.folder.glob("part-*.parquet"))
        _write_json(self.folder / MANIFEST, {"format": FORMAT, "complete": True, "rows": rows, "parts": parts,
                                             **self.schema.to_dict()})


class ParquetSource:
    def __init__(self, folder: Path):
        self.folder = folder
        self.description = f"{PARQUET_PREFIX}{folder}"
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except FileNotFoundError as exc:
            raise NotFound(f"{self.description}: no {MANIFEST} (not an xmodal export)") from exc
        except (OSError, ValueError) as exc:
            raise StorageError(f"{self.description}: cannot read {MANIFEST}: {exc}") from exc
        if manifest.get("format") != FORMAT:
            raise StorageError(f"{self.description}: unknown export format {manifest.get('format')!r}")
        if not manifest.get("complete"):
            raise StorageError(f"{self.description}: the export is incomplete; run `xmodal export` again "
                               "to finish it")
        self.manifest = manifest
        self.schema = Schema.from_dict(manifest)

    def count(self) -> int:
        return int(self.manifest["rows"])

    def batches(self, size: int) -> Iterator[list[Record]]:
        pq = require("pyarrow.parquet", "parquet", package="pyarrow")
        for name in self.manifest["parts"]:
            try:
                pf = pq.ParquetFile(self.folder / name)
                for rb in pf.iter_batches(batch_size=size):
                    yield self._records(rb.to_pydict())
            except OSError as exc:
                raise StorageError(f"{self.description}: cannot read {name}: {exc}") from exc

    def _records(self, cols: dict[str, list]) -> list[Record]:
        out = []
        for i, (id_, kind) in enumerate(zip(cols["id"], cols["id_type"])):
            vecs = {f: np.asarray(cols[VECTOR_PREFIX + f][i], np.float32) for f in self.schema.vectors
                    if cols[VECTOR_PREFIX + f][i] is not None}
            out.append(Record(int(id_) if kind == "int" else id_, json.loads(cols["payload"][i]), vecs))
        return out


# ------------------------------------------------------------------------------ transfer

def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc


def default_checkpoint(source: Source, sink: Sink) -> Path:
    """Where a transfer's checkpoint lives when the caller does not say: inside a Parquet export,
    otherwise in the user cache keyed by both ends."""
    if isinstance(sink, ParquetSink):
        return sink.folder / CHECKPOINT
    key = hashlib.sha1(f"{source.description}\n{sink.description}".encode()).hexdigest()[:20]
    return cache_dir() / "transfers" / f"{key}.json"


def transfer(source: Source, sink: Sink, checkpoint: Path | None = None, batch_size: int | None = None,
             restart: bool = False, show_progress: bool | None = None, _owned: bool = False) -> TransferReport:
    """Copy ``source`` into ``sink``, resuming from ``checkpoint`` unless ``restart``
    (``batch_size`` default: ``MilvusConfig.transfer_batch_rows``)."""
    from xmodal.progress import progress

    size = int(batch_size or MilvusConfig.transfer_batch_rows)
    if size <= 0:
        raise InvalidInput(f"batch size must be positive, got {size}")
    ckpt_path = checkpoint or default_checkpoint(source, sink)
    ckpt = None if restart else _read_checkpoint(ckpt_path, source, sink)
    report = TransferReport(source.description, sink.description)
    t0 = time.perf_counter()
    total = source.count()
    done_rows = ckpt["rows"] if ckpt else 0
    batch_no = ckpt["batches"] if ckpt else 0
    sink.prepare(source.schema, fresh=ckpt is None, owned=_owned)
    created = bool(ckpt["created"]) if ckpt else sink.created
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    with progress(show_progress) as bars:
        task = bars.add_task("transfer", total=total)
        skipping = done_rows
        for batch in source.batches(size):
            if skipping:
                take = min(skipping, len(batch))
                skipping -= take
                bars.advance(task, take)
                if skipping == 0 and _id_json(batch[take - 1].id) != ckpt["last_id"]:
                    # The source no longer lines up with the checkpoint: start over.
                    return _restart(source, sink, ckpt_path, size, show_progress, created)
                batch = batch[take:]
                if not batch:
                    continue
            sink.write(batch_no, batch)
            batch_no += 1
            report.rows += len(batch)
            report.batches += 1
            bars.advance(task, len(batch))
            _write_json(ckpt_path, {"source": source.description, "sink": sink.description,
                                    "rows": done_rows + report.rows, "batches": batch_no,
                                    "last_id": _id_json(batch[-1].id), "created": created})
        if skipping:
            return _restart(source, sink, ckpt_path, size, show_progress, created)
    report.skipped = done_rows
    sink.finish(done_rows + report.rows)
    ckpt_path.unlink(missing_ok=True)
    report.seconds = time.perf_counter() - t0
    return report


def _restart(source: Source, sink: Sink, ckpt_path: Path, size: int, show_progress, owned: bool) -> TransferReport:
    again = transfer(source, sink, ckpt_path, size, restart=True, show_progress=show_progress, _owned=owned)
    again.restarted = True
    return again


def _id_json(id_) -> list:
    return ["int" if isinstance(id_, int) else "str", str(id_)]


def _read_checkpoint(path: Path, source: Source, sink: Sink) -> dict | None:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # a torn checkpoint: redo everything (writes are idempotent)
    if doc.get("source") != source.description or doc.get("sink") != sink.description:
        return None
    return doc


# ------------------------------------------------------------------------------ ends from strings

def _parquet_folder(uri: str) -> Path | None:
    return Path(uri[len(PARQUET_PREFIX):]).expanduser() if uri.startswith(PARQUET_PREFIX) else None


def _database(uri: str, collection: str | None, hint: str, settings: Config | None) -> BaseDatabase:
    if not collection:
        raise InvalidInput(f"{uri!r}: name the collection ({hint})")
    from xmodal.db import connect

    return connect(uri, settings=settings)


def open_source(uri: str, collection: str | None,
                settings: Config | None = None) -> tuple[Source, BaseDatabase | None]:
    """A source from ``parquet:FOLDER`` or a database uri + collection name (the db to close after),
    opened with ``settings``."""
    folder = _parquet_folder(uri)
    if folder is not None:
        return ParquetSource(folder), None
    db = _database(uri, collection, "--collection", settings)
    try:
        return CollectionSource(db.collection(collection), f"{uri}#{collection}"), db
    except BaseException:
        db.close()
        raise


def open_sink(uri: str, collection: str | None,
              settings: Config | None = None) -> tuple[Sink, BaseDatabase | None]:
    folder = _parquet_folder(uri)
    if folder is not None:
        return ParquetSink(folder), None
    db = _database(uri, collection, "--as", settings)
    return CollectionSink(db, collection, f"{uri}#{collection}"), db


def copy(source_uri: str, source_collection: str | None, sink_uri: str, sink_collection: str | None,
         checkpoint: Path | None = None, batch_size: int | None = None, restart: bool = False,
         show_progress: bool | None = None, settings: Config | None = None) -> TransferReport:
    """The whole job from strings (what the CLI runs): open both ends with ``settings``, transfer
    (``batch_size`` default: its ``milvus.transfer_batch_rows``), close."""
    settings = settings or Config()
    source, src_db = open_source(source_uri, source_collection, settings)
    try:
        sink, dst_db = open_sink(sink_uri, sink_collection or source.schema.name, settings)
        try:
            return transfer(source, sink, checkpoint, batch_size or settings.milvus.transfer_batch_rows, restart,
                            show_progress)
        finally:
            if dst_db is not None:
                dst_db.close()
    finally:
        if src_db is not None:
            src_db.close()
