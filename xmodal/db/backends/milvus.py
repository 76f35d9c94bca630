"""The Milvus backend: the public Database / Collection API over pymilvus.

``milvus-lite:PATH.db`` runs Milvus Lite in this process; ``milvus://HOST:PORT[/DB]`` talks to a
Milvus standalone or distributed server. Everything above the database layer works unchanged.

How the xmodal model maps onto Milvus (see docs/SCALING.md):

* one Milvus collection per xmodal collection (but see vector fields below); its name and schema live in a small
  ``_xmodal_meta`` collection, so collection names with any characters survive;
* ids: a VARCHAR primary key holding a typed encoding (``i:42`` / ``s:photo.jpg``), so int and str
  ids round-trip without colliding;
* vector fields: Milvus requires every vector column on every row, so each field ``f`` becomes a
  column ``vec_i`` plus a BOOL flag ``has_i``; a row lacking ``f`` stores a unit placeholder and
  ``has_i = false``, and every search on ``f`` filters on the flag;
* a server before Milvus 2.4 holds one vector column per collection: field ``i >= 1`` then lives in
  a collection of its own (its "home", ``<name>__v<i>``) with the same rows and payload columns;
  writes and deletes go to every home, a search to the field's home, vector reads join by key;
* payload: the whole dict in a JSON column (what reads return) plus one typed column ``p_i`` per
  declared field (what filters run on) and a BOOL ``n_i`` saying the row has a value (servers before
  2.5 have no nullable columns; collections written in format 1 keep their nullable ones);
* scores: Milvus returns squared distances for L2, so they are square-rooted; COSINE and IP are
  already similarities. Range and threshold searches ask Milvus for a slightly wider band and then
  apply the embedded engine's exact rule, so both backends return the same set.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import warnings
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from xmodal._optional import require
from xmodal.config import Config, DBConfig, MilvusConfig
from xmodal.db.api import BaseCollection, BaseDatabase, Filter, Hit, Id, Record, VectorField
from xmodal.db.backends.milvus_filters import Column, MilvusFilter
from xmodal.db.schema import (check_id, check_ids, check_k, check_name, check_payload, check_payload_schema,
                              check_queries, check_query_params, check_vector_field, check_vectors, id_sequence)
from xmodal.db.uri import Location, locate
from xmodal.errors import AlreadyExists, InvalidInput, NotFound, StorageError, UnsupportedByBackend

META_COLLECTION = "_xmodal_meta"
# 2: presence columns (n_i) instead of nullable payload columns; vector fields may live in
# per-field Milvus collections ("home") on servers that hold one vector column per collection.
META_FORMAT = 2
PK = "pk"
PAYLOAD = "payload"
SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,180}")

MILVUS_METRICS = {"l2": "L2", "cosine": "COSINE", "ip": "IP"}
# xmodal index kind -> Milvus index type on a server.
SERVER_INDEX = {"flat": "FLAT", "hnsw": "HNSW", "ivf_flat": "IVF_FLAT", "ivf_pq": "IVF_PQ", "pq": "IVF_PQ",
                "opq": "IVF_PQ", "sq8": "IVF_SQ8", "kdtree": "FLAT", "diskann": "DISKANN"}
# Milvus Lite builds only FLAT, HNSW(_SQ), IVF_FLAT and IVF_SQ8: the others map to the nearest of those.
LITE_SUPPORTED = frozenset({"FLAT", "HNSW", "IVF_FLAT", "IVF_SQ8"})
LITE_NEAREST = {"IVF_PQ": "IVF_SQ8", "DISKANN": "HNSW"}
# What a typed payload column holds where the row has no value (its presence column says false).
PAYLOAD_DEFAULTS: dict[str, Any] = {"str": "", "int": 0, "float": 0.0, "bool": False, "list[str]": [], "list[int]": [],
                                    "json": {}}
PAYLOAD_COLUMN_TYPES = {"str": "VARCHAR", "int": "INT64", "float": "DOUBLE", "bool": "BOOL",
                        "list[str]": "ARRAY", "list[int]": "ARRAY", "json": "JSON"}
MILVUS_ONLY_INDEXES = ("diskann",)


# Milvus servers hold several vector columns per collection from 2.4 on; before, each vector field
# of an xmodal collection gets a Milvus collection of its own.
MULTI_VECTOR_SINCE = (2, 4)


def _server_version(client) -> tuple[int, ...]:
    """``(major, minor)`` of a Milvus server; a version it does not report reads as current."""
    try:
        text = str(client.get_server_version())
    except require("pymilvus", "milvus").exceptions.MilvusException:  # a proxy without GetVersion
        return (99,)
    found = re.match(r"v?(\d+)\.(\d+)", text.strip())
    return (int(found.group(1)), int(found.group(2))) if found else (99,)


class IndexMappingWarning(UserWarning):
    """An index kind was replaced by the nearest one the Milvus deployment can build."""


# ---------------------------------------------------------------------------- ids

def encode_id(id_: Id, max_length: int = MilvusConfig.max_id_length) -> str:
    """The VARCHAR primary key for an xmodal id: the type survives, so 42 and "42" stay distinct.
    ``max_length``: bytes of the key (the deployment's ``MilvusConfig.max_id_length``)."""
    id_ = check_id(id_)
    key = f"i:{id_}" if isinstance(id_, int) else f"s:{id_}"
    if len(key.encode()) > max_length:
        raise UnsupportedByBackend(f"id {str(id_)[:40]!r}...: longer than the Milvus backend's "
                                   f"{max_length - 2}-byte key")
    return key


def decode_id(key: str) -> Id:
    return int(key[2:]) if key.startswith("i:") else key[2:]


# ---------------------------------------------------------------------------- index mapping

def milvus_index(vf: VectorField, lite: bool, field: str, settings: Config | None = None) -> tuple[str, dict]:
    """Milvus index type and build params for a vector field; unknown kinds raise, kinds the
    deployment cannot build map to the nearest one with an :class:`IndexMappingWarning`.
    ``settings``: the database's; what the field leaves out comes from its ``db`` section, as in
    the embedded engine, so both backends agree."""
    settings = settings or Config()
    kind = vf.index.lower()
    if kind not in SERVER_INDEX:
        raise UnsupportedByBackend(f"vector field {field!r}: index kind {vf.index!r} is not supported by "
                                   f"the Milvus backend (supported: {sorted(SERVER_INDEX)})")
    itype = SERVER_INDEX[kind]
    if lite and itype not in LITE_SUPPORTED:
        nearest = LITE_NEAREST[itype]
        warnings.warn(f"vector field {field!r}: Milvus Lite cannot build {itype}; using {nearest} instead "
                      "(a Milvus server builds it)", IndexMappingWarning, stacklevel=4)
        itype = nearest
    elif kind in ("kdtree", "sq8", "pq", "opq"):
        warnings.warn(f"vector field {field!r}: Milvus has no {kind!r} index; using {itype}",
                      IndexMappingWarning, stacklevel=4)
    p = dict(vf.params)
    unmatched = sorted(set(p) & EMBEDDED_ONLY_PARAMS)
    if unmatched:
        warnings.warn(f"vector field {field!r}: Milvus has no counterpart for {', '.join(map(repr, unmatched))} "
                      f"of index {vf.index!r} (embedded-engine knobs); this backend does not use them",
                      IndexMappingWarning, stacklevel=4)
    db = settings.db
    if itype == "HNSW":
        params = {"M": int(p.get("M", db.hnsw_m)),
                  "efConstruction": int(p.get("ef_construction", db.hnsw_ef_construction))}
    elif itype.startswith("IVF"):
        params = {"nlist": int(p.get("nlist", settings.milvus.ivf_default_nlist))}
        if itype == "IVF_PQ":
            m = int(p.get("m", 0) or _pq_subquantizers(vf.dim, db.pq_dims_per_subquantizer))
            params.update(m=m, nbits=int(p.get("nbits", db.pq_bits)))
    else:
        params = {}
    return itype, params


# Field params the embedded engine uses that no Milvus index has (every other one is mapped:
# M, ef_construction, nlist, m, nbits at build time; ef_search, nprobe as search defaults).
EMBEDDED_ONLY_PARAMS = frozenset({"min_train", "refine_factor", "opq_niter", "leaf_size"})


def field_search_defaults(vf: VectorField) -> dict:
    """The field's own search defaults (``ef_search``, ``nprobe``), which a query's params override."""
    return {key: vf.params[key] for key in ("ef_search", "nprobe") if key in vf.params}


def _pq_subquantizers(dim: int, dims_per_subquantizer: int) -> int:
    """The largest divisor of ``dim`` giving sub-vectors of at least ``pq_dims_per_subquantizer`` dims,
    the embedded engine's rule, so both backends compress alike."""
    for m in range(max(1, dim // dims_per_subquantizer), 0, -1):
        if dim % m == 0:
            return m
    return 1


def search_params(itype: str, metric: str, params: Mapping[str, Any], k: int, settings: DBConfig | None = None) -> dict:
    """Milvus search params from already-checked xmodal query params (``refine_factor`` has no Milvus
    counterpart outside IVF_PQ refinement and is ignored: it tunes precision, not semantics). A Milvus
    server refuses an HNSW ``ef`` (DISKANN ``search_list``) below ``k``, so it is raised to ``k``."""
    db = settings or DBConfig()  # the database's defaults for what the query and field leave out
    inner: dict[str, Any] = {}
    if itype.startswith("HNSW") or itype == "DISKANN":
        ef = int(params.get("ef", params.get("ef_search", db.hnsw_ef_search)))
        inner["ef" if itype != "DISKANN" else "search_list"] = max(ef, int(k))
    elif itype.startswith("IVF"):
        inner["nprobe"] = int(params.get("nprobe", db.ivf_nprobe))
    return {"metric_type": MILVUS_METRICS[metric], "params": inner}


# ---------------------------------------------------------------------------- uri

def client_kwargs(where: Location, token_env: str = MilvusConfig.token_env) -> dict:
    """``MilvusClient`` keyword arguments for a located Milvus URI (Lite file or server)."""
    if where.backend == "milvus-lite":
        path = where.path
        if path.suffix != ".db":
            raise InvalidInput(f"{where.uri!r}: a Milvus Lite path must end in .db (e.g. milvus-lite:./media.db)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"{where.uri!r}: cannot create {path.parent}: {exc}") from exc
        return {"uri": str(path.resolve())}
    if where.backend != "milvus":
        raise InvalidInput(f"{where.uri!r}: not a Milvus uri (milvus-lite:PATH.db or milvus://HOST:PORT[/DB])")
    kwargs: dict[str, Any] = {"uri": f"{where.scheme}://{where.address}"}
    if where.database:
        kwargs["db_name"] = where.database
    token = os.environ.get(token_env)
    if token:
        kwargs["token"] = token
    return kwargs


@contextmanager
def _milvus_errors(what: str) -> Iterator[None]:
    """Turn pymilvus' exceptions into StorageError naming what was being done."""
    pymilvus = require("pymilvus", "milvus")
    try:
        yield
    except pymilvus.exceptions.MilvusException as exc:
        raise StorageError(f"Milvus: {what} failed: {getattr(exc, 'message', exc)}") from exc


# ---------------------------------------------------------------------------- collection

class MilvusCollection(BaseCollection):
    def __init__(self, db: "MilvusDatabase", name: str, doc: dict):
        self._db = db
        self.name = name
        self._doc = doc
        self._mname: str = doc["milvus_name"]
        self._fields = {f: VectorField.from_dict(d) for f, d in doc["vectors"].items()}
        self._vcol: dict[str, str] = {f: d["column"] for f, d in doc["vectors"].items()}
        self._flag: dict[str, str] = {f: d["flag"] for f, d in doc["vectors"].items()}
        self._itype: dict[str, str] = {f: d["milvus_index"] for f, d in doc["vectors"].items()}
        self._schema: dict[str, str] = dict(doc["payload_schema"])
        self._pcol: dict[str, str] = dict(doc["payload_columns"])
        self._present: dict[str, str] = dict(doc.get("payload_flags") or {})  # {} in format 1 (nullable)
        self._filter = MilvusFilter({k: Column(self._pcol[k], t, self._present.get(k)) for k, t in self._schema.items()},
                                    db.settings)
        # The Milvus collection holding each vector field's column: the main one, or one per field
        # on servers without multi-vector collections. Every home holds every row's payload columns.
        self._home: dict[str, str] = {f: d.get("home", self._mname) for f, d in doc["vectors"].items()}
        self._homes: list[str] = list(dict.fromkeys([self._mname, *self._home.values()]))

    # -- schema
    @property
    def vector_fields(self) -> dict[str, VectorField]:
        return dict(self._fields)

    @property
    def payload_schema(self) -> dict[str, str]:
        return dict(self._schema)

    @property
    def metadata(self) -> dict:
        return json.loads(json.dumps(self._doc.get("metadata") or {}))

    def set_metadata(self, metadata: Mapping[str, Any]) -> None:
        doc = dict(self._doc, metadata=_json_copy(metadata, f"collection {self.name!r} metadata"))
        self._db._write_meta(self.name, doc)
        self._doc = doc

    @property
    def _client(self):
        return self._db._require_client()

    def expr(self, where: Filter | None) -> str:
        """The Milvus expression for ``where`` (public so tools can show what runs on the server)."""
        return self._filter.compile(where)

    # -- writes
    def upsert(self, ids: Sequence[Id], vectors: Mapping[str, np.ndarray],
               payloads: Sequence[Mapping[str, Any] | None] | None = None) -> None:
        with _milvus_errors(f"upsert into collection {self.name!r}"):
            self._write(self._build_rows(ids, vectors, payloads))

    def _write(self, rows: list[dict]) -> None:
        """Upsert whole rows into every home, each given the vector columns it holds."""
        step = self._db.milvus_settings.write_batch_rows
        for home in self._homes:
            foreign = [c for f, h in self._home.items() if h != home for c in (self._vcol[f], self._flag[f])]
            part = [{k: v for k, v in r.items() if k not in foreign} for r in rows] if foreign else rows
            for i in range(0, len(part), step):
                self._client.upsert(home, part[i:i + step])

    def _build_rows(self, ids: Sequence[Id], vectors: Mapping[str, np.ndarray],
                    payloads: Sequence[Mapping[str, Any] | None] | None) -> list[dict]:
        """Validate the whole batch before anything is sent, so bad input changes nothing."""
        ids = check_ids(ids, limits=self._db.settings)
        n = len(ids)
        keys = [encode_id(i, self._db.milvus_settings.max_id_length) for i in ids]
        if not vectors:
            raise InvalidInput(f"upsert into {self.name!r}: give at least one vector field")
        arrays = {f: check_vectors(f, self._field(f), arr, n) for f, arr in vectors.items()}
        if payloads is None:
            payloads = [None] * n
        payloads = list(payloads)
        if len(payloads) != n:
            raise InvalidInput(f"upsert into {self.name!r}: {len(payloads)} payloads for {n} ids")
        rows = []
        for j, (key, id_) in enumerate(zip(keys, ids)):
            payload = self._check_payload(id_, payloads[j])
            row: dict[str, Any] = {PK: key, PAYLOAD: payload}
            for f, vf in self._fields.items():
                if f in arrays:
                    row[self._vcol[f]] = arrays[f][j].tolist()
                    row[self._flag[f]] = True
                else:
                    row[self._vcol[f]] = _placeholder(vf.dim)
                    row[self._flag[f]] = False
            for k, col in self._pcol.items():
                value = payload.get(k)
                if k in self._present:
                    row[self._present[k]] = value is not None
                    value = PAYLOAD_DEFAULTS[self._schema[k]] if value is None else value
                row[col] = value
            rows.append(row)
        return rows

    def _field(self, field: str) -> VectorField:
        vf = self._fields.get(field)
        if vf is None:
            raise InvalidInput(f"collection {self.name!r} has no vector field {field!r} "
                           f"(fields: {sorted(self._fields)})")
        return vf

    def _check_payload(self, id_: Id, payload: Mapping[str, Any] | None) -> dict:
        where = f"payload of id {id_!r} in {self.name!r}"
        p = _json_copy(check_payload(self._schema, payload, where), where)
        for k, t in self._schema.items():
            if not _fits_milvus(p.get(k), t, self._db.milvus_settings):
                raise UnsupportedByBackend(f"{where}: field {k!r} exceeds the Milvus backend's limits "
                                           f"({self._db.milvus_settings.max_varchar_length} bytes per string, "
                                           f"{self._db.milvus_settings.max_array_capacity} list elements)")
        return p

    def delete(self, ids: Sequence[Id] | None = None, where: Filter | None = None) -> int:
        if ids is None and where is None:
            raise InvalidInput(f"delete from {self.name!r}: give ids or where")
        expr = self.expr(where) if where is not None else ""
        with _milvus_errors(f"delete from collection {self.name!r}"):
            if ids is not None:
                keys = [encode_id(i, self._db.milvus_settings.max_id_length) for i in ids]
                existing = [r[PK] for r in self._query_keys(keys, [PK], expr)]
                for home in self._homes:
                    step = self._db.milvus_settings.write_batch_rows
                    for i in range(0, len(existing), step):
                        self._client.delete(home, ids=existing[i:i + step])
                return len(existing)
            n = self.count(where)
            if n:
                for home in self._homes:
                    self._client.delete(home, filter=expr or f'{PK} != ""')
            return n

    def update_payload(self, ids: Sequence[Id], patch: Mapping[str, Any]) -> int:
        patch = _json_copy(patch, f"payload patch for {self.name!r}")
        if not isinstance(patch, dict):
            raise InvalidInput(f"update_payload on {self.name!r}: the patch must be a dict")
        records = self.get(ids, with_vectors=True)
        rows = []
        for r in records:
            merged = {**r.payload, **patch}
            self._check_payload(r.id, merged)
            rows.append((r, merged))
        if not rows:
            return 0
        # _build_rows takes one set of fields per call: group rows by the fields they hold.
        by_shape: dict[tuple[str, ...], list[tuple[Record, dict]]] = {}
        for r, merged in rows:
            by_shape.setdefault(tuple(sorted(r.vectors or {})), []).append((r, merged))
        built = []
        for shape, group in by_shape.items():
            vecs = {f: np.stack([r.vectors[f] for r, _ in group]) for f in shape}
            built += self._build_rows([r.id for r, _ in group], vecs, [m for _, m in group])
        with _milvus_errors(f"update_payload in collection {self.name!r}"):
            self._write(built)
        return len(rows)

    def flush(self, timeout_s: float | None = None) -> None:
        """Seal buffered rows into segments and wait until their vector indexes are built.

        Milvus indexes sealed segments only, in the background; until then searches scan the rows
        exactly (correct, slower). Call after a bulk load, before serving latency-sensitive traffic.
        """
        timeout = self._db.milvus_settings.index_wait_s if timeout_s is None else timeout_s
        with _milvus_errors(f"flush collection {self.name!r}"):
            for home in self._homes:
                self._client.flush(home)
            engine = self._db._lite_engine_collection(self._mname)
            if engine is not None:
                engine._wait_for_bg(timeout=timeout)  # noqa: SLF001 - Lite exposes no public wait
                return
            deadline = time.monotonic() + timeout
            for f, col in self._vcol.items():
                while time.monotonic() < deadline:
                    info = self._client.describe_index(self._home[f], col)
                    if not info or int(info.get("pending_index_rows", 0)) == 0:
                        break
                    time.sleep(self._db.milvus_settings.index_poll_s)

    # -- reads
    def _out_fields(self, with_payload: bool, with_vectors: bool) -> list[str]:
        out = [PK]
        if with_payload:
            out.append(PAYLOAD)
        if with_vectors:
            out += [c for f, h in self._home.items() if h == self._mname for c in (self._vcol[f], self._flag[f])]
        return out

    def _query_keys(self, keys: list[str], out: list[str], expr: str = "", home: str | None = None) -> list[dict]:
        found: list[dict] = []
        step = self._db.milvus_settings.read_batch_rows
        for i in range(0, len(keys), step):
            chunk = keys[i:i + step]
            e = f"{PK} in {json.dumps(chunk, ensure_ascii=False)}"
            if expr:
                e = f"({e}) and {expr}"
            found += self._client.query(home or self._mname, filter=e, output_fields=out)
        return found

    def _add_side_vectors(self, rows: list[dict]) -> list[dict]:
        """Fill in the vector columns kept in other homes than the main collection (split layout)."""
        keys = [r[PK] for r in rows]
        for home in self._homes[1:]:
            cols = [c for f, h in self._home.items() if h == home for c in (self._vcol[f], self._flag[f])]
            side = {r[PK]: r for r in self._query_keys(keys, [PK, *cols], home=home)}
            for r in rows:
                r.update({c: side.get(r[PK], {}).get(c) for c in cols})
        return rows

    def _record(self, row: Mapping[str, Any], with_vectors: bool) -> Record:
        vecs = None
        if with_vectors:
            vecs = {f: np.asarray(row[self._vcol[f]], dtype=np.float32)
                    for f in self._fields if row.get(self._flag[f])}
        return Record(id=decode_id(row[PK]), payload=dict(row.get(PAYLOAD) or {}), vectors=vecs)

    def get(self, ids: Sequence[Id], with_vectors: bool = False) -> list[Record]:
        keys = [encode_id(i, self._db.milvus_settings.max_id_length) for i in id_sequence(ids, self._db.settings)]
        with _milvus_errors(f"get from collection {self.name!r}"):
            found = self._query_keys(keys, self._out_fields(True, with_vectors))
            rows = {r[PK]: r for r in (self._add_side_vectors(found) if with_vectors else found)}
        return [self._record(rows[k], with_vectors) for k in dict.fromkeys(keys) if k in rows]

    def count(self, where: Filter | None = None) -> int:
        expr = self.expr(where)
        with _milvus_errors(f"count in collection {self.name!r}"):
            res = self._client.query(self._mname, filter=expr, output_fields=["count(*)"])
        return int(res[0]["count(*)"]) if res else 0

    def scroll(self, where: Filter | None = None, batch_size: int = 1000,
               with_vectors: bool = False) -> Iterator[Record]:
        if batch_size <= 0:
            raise InvalidInput(f"scroll on {self.name!r}: batch_size must be positive, got {batch_size}")
        expr = self.expr(where)
        out = self._out_fields(True, with_vectors)
        step = min(batch_size, self._db.milvus_settings.max_topk)
        last: str | None = None
        # Keyset paging on the primary key. The "iterator" option makes Milvus (server and Lite)
        # return a page's smallest keys in key order. pymilvus' own query_iterator splices the last
        # key into its expression unquoted, which breaks on ids holding a quote, so the paging is
        # done here with JSON-quoted keys.
        while True:
            page_expr = expr if last is None else f"{PK} > {json.dumps(last, ensure_ascii=False)}" + (
                f" and {expr}" if expr else "")
            with _milvus_errors(f"scroll collection {self.name!r}"):
                rows = self._client.query(self._mname, filter=page_expr, output_fields=out, limit=step,
                                          iterator="True")
            rows = sorted(rows, key=lambda r: r[PK])
            if with_vectors:
                with _milvus_errors(f"scroll collection {self.name!r}"):
                    self._add_side_vectors(rows)
            for row in rows:
                yield self._record(row, with_vectors)
            if len(rows) < step:
                return
            last = rows[-1][PK]

    # -- searches
    def _prepare_queries(self, field: str, queries: np.ndarray) -> np.ndarray:
        return check_queries(field, self._field(field), queries)

    def _search_expr(self, field: str, where: Filter | None) -> str:
        """The filter plus the field's presence flag. A single-field collection needs no flag (every
        row holds its one field), which spares Milvus a scalar scan per query."""
        expr = self.expr(where)
        if len(self._fields) == 1:
            return expr
        flag = f"{self._flag[field]} == true"
        return f"{flag} and {expr}" if expr else flag

    def _score(self, field: str, raw: float) -> float:
        """Milvus distance -> xmodal score: L2 comes squared; COSINE / IP are similarities already."""
        return math.sqrt(max(raw, 0.0)) if self._fields[field].metric == "l2" else float(raw)

    def _hit(self, field: str, h: Mapping[str, Any], with_payload: bool, with_vectors: bool) -> Hit:
        ent = h.get("entity") or {}
        rec = self._record({PK: h[PK] if PK in h else h["id"], **ent}, with_vectors)
        return Hit(id=rec.id, score=self._score(field, h["distance"]),
                   payload=rec.payload if with_payload else None, vectors=rec.vectors)

    def search(self, field: str, queries: np.ndarray, k: int = 10, where: Filter | None = None,
               params: Mapping[str, Any] | None = None, with_payload: bool = True,
               with_vectors: bool = False) -> list[list[Hit]]:
        vf = self._field(field)
        q = self._prepare_queries(field, queries)
        k = check_k(k)
        if k > self._db.milvus_settings.max_topk:
            raise UnsupportedByBackend(f"search on {self.name!r}: k={k} exceeds Milvus' top-k limit "
                                       f"of {self._db.milvus_settings.max_topk}; use scroll or range_search")
        sp = search_params(self._itype[field], vf.metric,
                           {**field_search_defaults(vf), **check_query_params(field, vf, params)}, k,
                           self._db.settings)
        expr = self._search_expr(field, where)
        if not len(q):
            return []
        split = with_vectors and len(self._homes) > 1
        with _milvus_errors(f"search collection {self.name!r} field {field!r}"):
            res = self._client.search(self._home[field], data=q.tolist(), anns_field=self._vcol[field],
                                      limit=int(k), filter=expr, search_params=sp,
                                      output_fields=self._out_fields(with_payload, with_vectors and not split)[1:])
            if split:  # the hits' other vector fields live in other homes
                by_key = {r[PK]: r for r in self._add_side_vectors(self._query_keys(
                    list({h["id"] for hits in res for h in hits}), self._out_fields(False, True)))}
                res = [[{**h, "entity": {**(h.get("entity") or {}), **by_key.get(h["id"], {})}} for h in hits]
                       for hits in res]
        return [[self._hit(field, h, with_payload, with_vectors) for h in hits] for hits in res]

    def range_search(self, field: str, queries: np.ndarray, radius: float, where: Filter | None = None,
                     with_payload: bool = True) -> list[list[Hit]]:
        vf = self._field(field)
        if not isinstance(radius, (int, float)) or not math.isfinite(radius) or radius < 0:
            raise InvalidInput(f"range_search on {self.name!r}: radius must be a finite number >= 0, "
                               f"got {radius!r}")
        slack = self._db.milvus_settings.range_slack
        if vf.metric == "l2":
            return self._bounded(field, queries, where, with_payload, "range_search",
                                 bound=(radius + slack) ** 2, keep=lambda s: s <= radius)
        if vf.metric == "cosine":
            return self._bounded(field, queries, where, with_payload, "range_search",
                                 bound=1.0 - radius - slack, keep=lambda s: 1.0 - s <= radius)
        raise InvalidInput(f"range_search on {self.name!r}: field {field!r} uses ip, which has no distance; "
                           "use threshold_search")

    def threshold_search(self, field: str, queries: np.ndarray, min_similarity: float,
                         where: Filter | None = None, with_payload: bool = True) -> list[list[Hit]]:
        vf = self._field(field)
        if not isinstance(min_similarity, (int, float)) or not math.isfinite(min_similarity):
            raise InvalidInput(f"threshold_search on {self.name!r}: min_similarity must be a finite number, "
                               f"got {min_similarity!r}")
        if vf.metric == "l2":
            raise InvalidInput(f"threshold_search on {self.name!r}: field {field!r} uses l2, which has no "
                               "similarity; use range_search")
        t = float(min_similarity)
        return self._bounded(field, queries, where, with_payload, "threshold_search",
                             bound=t - self._db.milvus_settings.range_slack, keep=lambda s: s >= t)

    def _bounded(self, field: str, queries: np.ndarray, where: Filter | None, with_payload: bool, what: str,
                 bound: float, keep: Callable[[float], bool]) -> list[list[Hit]]:
        """Every row inside a Milvus radius, paged past the top-k cap, then judged by ``keep``.

        Milvus returns at most ``max_topk`` rows per request. After a full page the next request's
        inner bound (``range_filter``) moves to the last distance seen, loosened by ``range_slack``
        (Milvus may recompute that distance a hair differently), and every row already seen inside
        the loosened window is excluded by key, so ties across the page boundary are neither lost nor
        looped over.
        """
        vf = self._field(field)
        q = self._prepare_queries(field, queries)
        base = self._search_expr(field, where)
        cap = self._db.milvus_settings.max_topk
        sp = search_params(self._itype[field], vf.metric, field_search_defaults(vf), cap, self._db.settings)
        ascending = vf.metric == "l2"  # Milvus' raw L2 grows away from the query; COSINE / IP shrink
        out: list[list[Hit]] = []
        for qv in q:
            hits: list[Hit] = []
            seen: list[tuple[str, float]] = []
            inner: float | None = None
            excluded: list[str] = []
            while True:
                p = dict(sp, params=dict(sp["params"], radius=float(bound)))
                if inner is not None:
                    p["params"]["range_filter"] = float(inner)
                not_in = f"{PK} not in {json.dumps(excluded, ensure_ascii=False)}" if excluded else ""
                expr = " and ".join(e for e in (base, not_in) if e)
                with _milvus_errors(f"{what} on collection {self.name!r} field {field!r}"):
                    res = self._client.search(self._home[field], data=[qv.tolist()], anns_field=self._vcol[field],
                                              limit=cap, filter=expr, search_params=p,
                                              output_fields=[PAYLOAD] if with_payload else [])
                page = list(res[0]) if res else []
                hits += [self._hit(field, h, with_payload, False) for h in page]
                seen += [(h[PK] if PK in h else h["id"], float(h["distance"])) for h in page]
                if len(page) < cap:
                    break
                last = float(page[-1]["distance"])
                slack = self._db.milvus_settings.range_slack * max(1.0, abs(last))
                inner = last - slack if ascending else last + slack
                excluded = [k for k, d in seen if (d >= inner if ascending else d <= inner)]
            kept = {h.id: h for h in hits if keep(h.score)}
            ordered = sorted(kept.values(), key=lambda h: h.score, reverse=vf.metric != "l2")
            out.append(ordered)
        return out


# Open MilvusDatabase handles per Milvus Lite file in this process (its server is shared).
_LITE_OPEN: dict[str, int] = {}


def _create_indexed(client, name: str, schema, index_params) -> None:
    """Create, index and load a collection without pymilvus' index wait: it polls every 0.5 s per
    index (and Milvus Lite builds indexes in the background anyway); searches stay correct meanwhile."""
    client.create_collection(name, schema=schema, consistency_level="Strong")
    client.create_index(name, index_params, sync=False)
    client.load_collection(name)


def _check_field(name: str, spec: Any, limits: DBConfig) -> VectorField:
    """The embedded engine's checks, plus the index kinds only Milvus has (DISKANN)."""
    if isinstance(spec, VectorField) and spec.index in MILVUS_ONLY_INDEXES:
        check_vector_field(name, replace(spec, index="flat", params={}), limits)
        return spec
    return check_vector_field(name, spec, limits)


def _homes(doc: dict) -> list[str]:
    """The Milvus collections a collection's rows live in: the main one first, then one per vector
    field kept apart (servers that hold one vector column per collection)."""
    return list(dict.fromkeys([doc["milvus_name"], *(d.get("home", doc["milvus_name"]) for d in doc["vectors"].values())]))


def _placeholder(dim: int) -> list[float]:
    """Stored where a row lacks a vector field: a unit vector, valid under every metric, never
    searched (the row's flag is false)."""
    v = [0.0] * dim
    v[0] = 1.0
    return v


def _json_copy(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what}: not JSON-serialisable ({exc})") from exc


def _fits_milvus(value: Any, type_: str, m: MilvusConfig) -> bool:
    """Milvus column limits the embedded engine does not have."""
    if value is None:
        return True
    if type_ == "str":
        return len(value.encode()) <= m.max_varchar_length
    if type_.startswith("list["):
        return len(value) <= m.max_array_capacity and (
            type_ != "list[str]" or all(len(v.encode()) <= m.max_varchar_length for v in value))
    return True


# ---------------------------------------------------------------------------- database

class MilvusDatabase(BaseDatabase):
    """A Milvus deployment (Lite file or server) seen through xmodal's Database API."""

    def __init__(self, uri: str | Location, settings: Config | None = None):
        """``settings``: this database's own; its ``db`` section gives the index defaults (as in the
        embedded engine) and its ``milvus`` section the request sizes and limits."""
        pymilvus = require("pymilvus", "milvus")
        self._config = settings or Config()
        self.settings = self._config.db
        self.milvus_settings = self._config.milvus
        where = uri if isinstance(uri, Location) else locate(uri)
        kwargs = client_kwargs(where, self.milvus_settings.token_env)
        self.lite = where.backend == "milvus-lite"
        self.uri = where.uri
        self._lite_path = kwargs["uri"] if self.lite else None
        self._loaded: set[str] = set()
        self._client = None
        try:
            if kwargs.get("db_name"):
                # milvus://HOST:PORT/DB names a Milvus database; create it on first use, like a folder.
                # The client is then opened on it (use_database asks DescribeDatabase, which Milvus
                # servers before 2.4 lack).
                admin = pymilvus.MilvusClient(**{k: v for k, v in kwargs.items() if k != "db_name"})
                try:
                    if kwargs["db_name"] not in admin.list_databases():
                        admin.create_database(kwargs["db_name"])
                finally:
                    admin.close()
            self._client = pymilvus.MilvusClient(**kwargs)
        except pymilvus.exceptions.MilvusException as exc:
            raise StorageError(f"cannot open Milvus at {self.uri!r}: {getattr(exc, 'message', exc)}") from exc
        if self._lite_path:
            _LITE_OPEN[self._lite_path] = _LITE_OPEN.get(self._lite_path, 0) + 1
        self._multi_vector = self.lite or _server_version(self._client) >= MULTI_VECTOR_SINCE
        self._ensure_meta()

    def _require_client(self):
        if self._client is None:
            raise StorageError(f"the Milvus database {self.uri!r} is closed")
        return self._client

    def _ensure_meta(self) -> None:
        pymilvus = require("pymilvus", "milvus")
        c = self._require_client()
        with _milvus_errors(f"open the {META_COLLECTION} collection"):
            if c.has_collection(META_COLLECTION):
                self._ensure_loaded(META_COLLECTION)
                return
            schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field(PK, pymilvus.DataType.VARCHAR, is_primary=True,
                             max_length=self.milvus_settings.max_id_length)
            schema.add_field("doc", pymilvus.DataType.JSON)
            schema.add_field("v", pymilvus.DataType.FLOAT_VECTOR, dim=2)  # Milvus demands one vector column
            ip = c.prepare_index_params()
            ip.add_index("v", index_type="FLAT", metric_type="L2")
            _create_indexed(c, META_COLLECTION, schema, ip)

    def _ensure_loaded(self, milvus_name: str) -> None:
        """Milvus searches only loaded collections, and a restarted Milvus Lite starts with every
        collection released: load on first use."""
        if milvus_name in self._loaded:
            return
        c = self._require_client()
        with _milvus_errors(f"load Milvus collection {milvus_name!r}"):
            state = c.get_load_state(milvus_name).get("state")
            if str(state).rsplit(".", 1)[-1] != "Loaded":
                c.load_collection(milvus_name)
        self._loaded.add(milvus_name)

    def _read_meta(self, name: str | None = None) -> dict[str, dict]:
        c = self._require_client()
        expr = f"{PK} == {json.dumps(name, ensure_ascii=False)}" if name is not None else f'{PK} != ""'
        with _milvus_errors("read collection metadata"):
            rows = c.query(META_COLLECTION, filter=expr, output_fields=[PK, "doc"])
        return {r[PK]: r["doc"] for r in rows}

    def _write_meta(self, name: str, doc: dict) -> None:
        with _milvus_errors(f"write metadata of collection {name!r}"):
            self._require_client().upsert(META_COLLECTION, [{PK: name, "doc": doc, "v": [0.0, 0.0]}])

    def _milvus_name(self, name: str) -> str:
        if SAFE_NAME.fullmatch(name):
            return f"xm_{name}"
        return "xm_h" + hashlib.sha1(name.encode()).hexdigest()[:32]

    def create_collection(self, name: str, vectors: Mapping[str, VectorField],
                          payload_schema: Mapping[str, str] | None = None,
                          metadata: Mapping[str, Any] | None = None,
                          exist_ok: bool = False) -> MilvusCollection:
        check_name(name, "collection", self.settings)
        existing = self._read_meta(name).get(name)
        if existing is not None:
            if exist_ok:
                return self.collection(name)
            raise AlreadyExists(f"collection {name!r} already exists in {self.uri!r}")
        doc = self._plan(name, vectors, payload_schema or {}, metadata or {})
        self._create_milvus_collection(doc)
        self._loaded.update(_homes(doc))
        self._write_meta(name, doc)
        return MilvusCollection(self, name, doc)

    def _plan(self, name: str, vectors: Mapping[str, VectorField], payload_schema: Mapping[str, str],
              metadata: Mapping[str, Any]) -> dict:
        """Check the schema and choose Milvus column names and index types (nothing is created yet)."""
        if not vectors:
            raise InvalidInput(f"collection {name!r}: declare at least one vector field")
        mname = self._milvus_name(name)
        vdoc = {}
        for i, (f, vf) in enumerate(vectors.items()):
            vf = _check_field(f, vf, self.settings)
            itype, params = milvus_index(vf, self.lite, f, self._config)
            vdoc[f] = {**vf.to_dict(), "column": f"vec_{i}", "flag": f"has_{i}", "milvus_index": itype,
                       "milvus_params": params, "home": mname if i == 0 or self._multi_vector else f"{mname}__v{i}"}
        payload_schema = check_payload_schema(payload_schema, self.settings)
        pcols = {k: f"p_{i}" for i, k in enumerate(payload_schema)}
        return {"format": META_FORMAT, "milvus_name": mname, "vectors": vdoc,
                "payload_schema": dict(payload_schema), "payload_columns": pcols,
                "payload_flags": {k: f"n_{i}" for i, k in enumerate(payload_schema)},
                "metadata": _json_copy(dict(metadata), f"collection {name!r} metadata")}

    def _create_milvus_collection(self, doc: dict) -> None:
        pymilvus = require("pymilvus", "milvus")
        DataType = pymilvus.DataType
        c = self._require_client()
        for home in _homes(doc):
            schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field(PK, DataType.VARCHAR, is_primary=True, max_length=self.milvus_settings.max_id_length)
            schema.add_field(PAYLOAD, DataType.JSON)
            ip = c.prepare_index_params()
            for d in doc["vectors"].values():
                if d.get("home", doc["milvus_name"]) != home:
                    continue
                schema.add_field(d["column"], DataType.FLOAT_VECTOR, dim=int(d["dim"]))
                schema.add_field(d["flag"], DataType.BOOL)
                ip.add_index(d["column"], index_type=d["milvus_index"], metric_type=MILVUS_METRICS[d["metric"]],
                             params=d["milvus_params"])
            self._add_payload_columns(schema, doc, self.milvus_settings)
            with _milvus_errors(f"create Milvus collection {home!r}"):
                if c.has_collection(home):  # left over by a create that crashed before its meta row
                    c.drop_collection(home)
                _create_indexed(c, home, schema, ip)

    @staticmethod
    def _add_payload_columns(schema, doc: dict, m: MilvusConfig) -> None:
        """One typed column per declared payload field, and its presence flag (format 2)."""
        DataType = require("pymilvus", "milvus").DataType
        for k, col in doc["payload_columns"].items():
            t = doc["payload_schema"][k]
            kw: dict[str, Any] = {}
            if t == "str":
                kw["max_length"] = m.max_varchar_length
            elif t.startswith("list["):
                kw.update(element_type=DataType.VARCHAR if t == "list[str]" else DataType.INT64,
                          max_capacity=m.max_array_capacity)
                if t == "list[str]":
                    kw["max_length"] = m.max_varchar_length
            schema.add_field(col, getattr(DataType, PAYLOAD_COLUMN_TYPES[t]), **kw)
            schema.add_field(doc["payload_flags"][k], DataType.BOOL)

    def collection(self, name: str) -> MilvusCollection:
        doc = self._read_meta(name).get(name)
        if doc is None:
            raise NotFound(f"collection {name!r} does not exist in {self.uri!r}")
        for home in _homes(doc):
            self._ensure_loaded(home)
        return MilvusCollection(self, name, doc)

    def list_collections(self) -> list[str]:
        return sorted(self._read_meta())

    def drop_collection(self, name: str) -> None:
        doc = self._read_meta(name).get(name)
        if doc is None:
            raise NotFound(f"collection {name!r} does not exist in {self.uri!r}")
        c = self._require_client()
        with _milvus_errors(f"drop collection {name!r}"):
            c.delete(META_COLLECTION, ids=[name])
            for home in _homes(doc):
                if c.has_collection(home):
                    c.drop_collection(home)
                self._loaded.discard(home)

    def close(self) -> None:
        """Disconnect; the last close of a Milvus Lite file stops its in-process server, which frees
        the file's lock so another process (a CLI, a server) can open it."""
        if self._client is None:
            return
        try:
            self._client.close()
        finally:
            self._client = None
            if self._lite_path:
                _LITE_OPEN[self._lite_path] -= 1
                if not _LITE_OPEN[self._lite_path]:
                    del _LITE_OPEN[self._lite_path]
                    from milvus_lite.server_manager import server_manager_instance

                    server_manager_instance.release_server(self._lite_path)

    def _lite_engine_collection(self, milvus_name: str):
        """Milvus Lite's engine object for a collection (in this process), or None."""
        if not self._lite_path:
            return None
        from milvus_lite.server_manager import server_manager_instance

        entry = server_manager_instance._servers.get(os.path.abspath(self._lite_path))  # noqa: SLF001
        return entry[1].get_collection(milvus_name) if entry else None
