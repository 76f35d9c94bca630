"""A collection of the embedded database: rows (id, payload, named vectors) and their indexes.

Write path: validate everything -> one SQLite transaction -> apply to memory. A validation or
storage error therefore changes nothing, and memory never gets ahead of what is durable.
Read path: numpy arrays indexed by row id (ids, payloads, liveness, payload columns), so a
search costs one FAISS call plus a few vectorised lookups, with no SQLite round trip unless
stored vectors are asked for.
"""
from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np

from xmodal.db.api import BaseCollection, Filter, Hit, Id, Record, VectorField
from xmodal.db.columns import PayloadColumns
from xmodal.db.filters import Node, parse_filter
from xmodal.db.indexes import SearchKnobs
from xmodal.db.locks import ReadWriteLock
from xmodal.db.schema import (check_ids, check_k, check_payload, check_payload_value, check_queries,
                              check_query_params, check_vectors, id_sequence)
from xmodal.db.storage import Storage, chunks
from xmodal.db.streaming import Folder
from xmodal.db.vectors import FILTER_CACHE_ENTRIES, Allowed, FieldIndex, grow
from xmodal.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from xmodal.db.database import Database

__all__ = ["objects", "to_json", "filter_key", "Collection"]


def objects(values: Sequence[Any]) -> np.ndarray:
    """A 1-d object array of ``values`` (numpy would otherwise turn lists of lists into 2-d arrays)."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def to_json(value: Any, what: str) -> str:
    try:
        return _JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not JSON-serialisable: {exc}") from exc


_PLAIN = (str, int, float, bool, type(None))


def filter_key(where: Any, depth: int = 0) -> Any:
    """A hashable key equal only for filters that parse identically: built-in types only, with the
    type in the key (1, 1.0 and True compare equal in Python but not as filter literals). None
    for anything else (or anything big or deep), which is then simply parsed every time."""
    t = type(where)
    if t in _PLAIN:
        return (t, where)
    if depth >= 6:
        return None
    if t is dict:
        if len(where) > 16:
            return None
        items = []
        for key, value in where.items():
            sub = filter_key(value, depth + 1)
            if type(key) is not str or sub is None:
                return None
            items.append((key, sub))
        return (dict, tuple(items))
    if t is list or t is tuple:
        if len(where) > 16:
            return None
        subs = tuple(filter_key(v, depth + 1) for v in where)
        return None if None in subs else (t, subs)
    return None


class HashedKey:
    """A dict key whose hash is computed once. Why: a parsed filter is a tree of frozen
    dataclasses, which Python re-hashes from the leaves at every dict operation (a filtered
    search made ~19 such hashes for its two caches); its key is built once per distinct filter."""

    __slots__ = ("key", "_hash")

    def __init__(self, key: Any) -> None:
        self.key = key
        self._hash = hash(key)  # TypeError for an unhashable key: the caller does not cache

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HashedKey) and self._hash == other._hash and self.key == other.key


class Collection(BaseCollection):
    def __init__(self, db: "Database", name: str, cid: int, spec: Mapping[str, Any], metadata: Mapping[str, Any],
                 next_rid: int, version: int = 0) -> None:
        self._db = db
        self._storage: Storage = db._storage
        self._settings = db.settings
        self.name = name
        self._cid = cid
        self._vectors = {f: VectorField.from_dict(d) for f, d in spec["vectors"].items()}
        self._field_tables = {f: f"v{cid}_{j}" for j, f in enumerate(spec["vectors"])}
        self._schema: dict[str, str] = dict(spec.get("payload", {}))
        self._metadata = dict(metadata)
        self._rows = f"r{cid}"
        self._index_dir = db.path / "indexes" / f"c{cid}"
        self._lock = ReadWriteLock()
        self._next_rid = next_rid
        self._version = version  # bumped by every write transaction (lets read-only handles catch up)
        self._deleted_log = f"d{cid}"
        self._checked_at = time.monotonic()
        self._dropped = False
        self._closed = False
        self._workers: list[threading.Thread] = []
        self._ids = np.empty(0, dtype=object)
        self._payloads = np.empty(0, dtype=object)
        self._alive = np.zeros(0, bool)
        self._rid_of: dict[Id, int] = {}
        self._columns = PayloadColumns(self._schema)
        arenas = None if self._storage.read_only else db.path / "indexes"
        self._fields = {f: FieldIndex(f, s, self._settings, arenas) for f, s in self._vectors.items()}
        self._folder = Folder(name, self._lock, self._fields.values, lambda: self._settings.fold_batch_rows,
                              lambda: self._dropped or self._closed, self._after_folds, self._settings.fold_nice)
        # (field, parsed filter) -> ((version, field epoch), Allowed): repeated filtered searches
        # skip re-evaluating the filter over every row; any write changes the stamp.
        self._filter_cache: OrderedDict[tuple[str, HashedKey], tuple[tuple[int, int], Allowed]] = OrderedDict()
        self._filter_cache_lock = threading.Lock()
        self._parsed: OrderedDict[HashedKey, tuple[Node | None, HashedKey | None]] = OrderedDict()  # filter_key -> parsed
        self._knobs_memo: dict[tuple, SearchKnobs] = {}  # (field, params' items) -> checked knobs (see _knobs)
        self._load()

    # ------------------------------------------------------------------ loading
    def _grow_rows(self, size: int) -> None:
        self._ids = grow(self._ids, size, None)
        self._payloads = grow(self._payloads, size, None)
        self._alive = grow(self._alive, size, False)
        self._columns.ensure(len(self._alive))

    def _load(self) -> None:
        with self._storage.snapshot():
            self._apply_rows(self._storage.query(f"SELECT rid, id, payload FROM {self._rows} ORDER BY rid"))
            vectors = {f: self._read_vectors(t, self._fields[f].spec.dim, 0) for f, t in self._field_tables.items()}
        for fname, (rids, x) in vectors.items():
            field = self._fields[fname]
            field.bootstrap(rids, field.prepare(x), self._index_dir)
        del vectors
        with self._lock.write():
            self._maintain()  # builds what had no snapshot (in the background when big)

    def _apply_rows(self, rows: list[tuple]) -> None:
        """Put stored rows (rid, id, payload JSON) into memory: new rows and payload updates."""
        if not rows:
            return
        self._grow_rows(max(r[0] for r in rows) + 1)
        rids = np.fromiter((r[0] for r in rows), np.int64, count=len(rows))
        payloads = [json.loads(r[2]) for r in rows]
        self._ids[rids] = objects([r[1] for r in rows])
        self._payloads[rids] = objects(payloads)
        self._alive[rids] = True
        self._rid_of.update((r[1], r[0]) for r in rows)
        self._columns.set_rows(rids.tolist(), payloads)

    def _read_vectors(self, table: str, dim: int, from_rid: int) -> tuple[np.ndarray, np.ndarray]:
        vrows = self._storage.query(f"SELECT rid, v FROM {table} WHERE rid >= ? ORDER BY rid", (from_rid,))
        rids = np.fromiter((r[0] for r in vrows), np.int64, count=len(vrows))
        x = np.frombuffer(b"".join(r[1] for r in vrows), dtype=np.float32).reshape(len(vrows), dim)
        return rids, x

    def refresh(self) -> bool:
        """Catch a read-only handle up with what the writing process committed since (new and
        updated rows, deletions, metadata). Reads call it by themselves at most every
        ``DBConfig.readonly_refresh_s``; True if anything changed. A no-op for the writer."""
        if not self._storage.read_only:
            return False
        self._checked_at = time.monotonic()
        with self._lock.write():
            with self._storage.snapshot():
                row = self._storage.query("SELECT version, next_rid, metadata FROM collections WHERE cid=?",
                                          (self._cid,))
                if not row:
                    self._dropped = True
                    return True
                version, next_rid, metadata = row[0]
                if version == self._version:
                    return False
                changed = self._storage.query(f"SELECT rid, id, payload FROM {self._rows} WHERE ver > ? ORDER BY rid",
                                              (self._version,))
                dead = np.array([r for (r,) in self._storage.query(
                    f"SELECT rid FROM {self._deleted_log} WHERE ver > ?", (self._version,))], np.int64)
                vectors = {f: self._read_vectors(t, self._fields[f].spec.dim, self._next_rid)
                           for f, t in self._field_tables.items()}
            dead = dead[dead < len(self._alive)]
            dead = dead[self._alive[dead]]
            if len(dead):
                self._forget(dead)
            self._apply_rows(changed)
            for fname, (rids, x) in vectors.items():
                field = self._fields[fname]
                field.add(rids, field.prepare(x))
            self._next_rid, self._version, self._metadata = next_rid, version, json.loads(metadata)
            self._maintain()
            return True

    def _fresh(self) -> None:
        """Read paths of a read-only handle look for the writer's changes now and then."""
        if self._storage.read_only and time.monotonic() - self._checked_at >= self._settings.readonly_refresh_s:
            self.refresh()

    # ------------------------------------------------------------------ schema
    @property
    def vector_fields(self) -> dict[str, VectorField]:
        return dict(self._vectors)

    @property
    def payload_schema(self) -> dict[str, str]:
        return dict(self._schema)

    @property
    def metadata(self) -> dict:
        return json.loads(json.dumps(self._metadata))

    def set_metadata(self, metadata: Mapping[str, Any]) -> None:
        if not isinstance(metadata, Mapping):
            raise InvalidInput(f"collection {self.name!r}: metadata must be a dict")
        text = to_json(dict(metadata), f"collection {self.name!r} metadata")
        with self._lock.write():
            self._check_open()
            with self._storage.write() as c:
                c.execute("UPDATE collections SET metadata=?, version=? WHERE cid=?",
                          (text, self._version + 1, self._cid))
            self._version += 1
            self._metadata = json.loads(text)

    def _check_open(self) -> None:
        if self._dropped:
            raise NotFound(f"collection {self.name!r} was dropped")

    def _field(self, name: Any) -> FieldIndex:
        field = self._fields.get(name) if isinstance(name, str) else None
        if field is None:
            raise InvalidInput(f"collection {self.name!r} has no vector field {name!r} "
                               f"(fields: {', '.join(self._fields)})")
        return field

    # ------------------------------------------------------------------ writes
    def upsert(self, ids: Sequence[Id], vectors: Mapping[str, np.ndarray],
               payloads: Sequence[Mapping[str, Any] | None] | None = None) -> None:
        ids = check_ids(ids, limits=self._settings)
        n = len(ids)
        if not isinstance(vectors, Mapping) or not vectors:
            raise InvalidInput(f"upsert into {self.name!r}: vectors must be a non-empty dict of field -> array")
        arrays = {}
        for fname, value in vectors.items():
            arrays[fname] = check_vectors(fname, self._field(fname).spec, value, n)
        if payloads is None:
            clean: list[dict] = [{} for _ in range(n)]
        else:
            if isinstance(payloads, Mapping) or len(payloads) != n:
                raise InvalidInput(f"upsert into {self.name!r}: payloads must be a list of {n} dicts (or None)")
            clean = [check_payload(self._schema, p, f"row {i!r}") for i, p in zip(ids, payloads)]
        texts = [to_json(p, f"payload of row {i!r}") for i, p in zip(ids, clean)]
        if n == 0:
            return
        with self._lock.write():
            self._check_open()
            self._storage.check_writable()
            old = np.array([r for r in (self._rid_of.get(i) for i in ids) if r is not None], np.int64)
            rids = np.arange(self._next_rid, self._next_rid + n, dtype=np.int64)
            rid_list = rids.tolist()
            ver = self._version + 1
            with self._storage.write() as c:
                if len(old):
                    self._delete_rows(c, old, ver)
                c.executemany(f"INSERT INTO {self._rows}(rid, id, payload, ver) VALUES (?,?,?,?)",
                              zip(rid_list, ids, texts, [ver] * n))
                for fname, arr in arrays.items():
                    c.executemany(f"INSERT INTO {self._field_tables[fname]}(rid, v) VALUES (?,?)",
                                  zip(rid_list, (row.tobytes() for row in arr)))
                c.execute("UPDATE collections SET next_rid=?, version=? WHERE cid=?",
                          (self._next_rid + n, ver, self._cid))
            # Durable from here on: apply to memory.
            self._version = ver
            self._next_rid += n
            if len(old):
                self._forget(old)
            self._grow_rows(self._next_rid)
            self._ids[rids] = objects(ids)
            self._payloads[rids] = objects(clean)
            self._alive[rids] = True
            self._rid_of.update(zip(ids, rid_list))
            self._columns.set_rows(rid_list, clean)
            for fname, arr in arrays.items():
                field = self._fields[fname]
                field.add(rids, field.prepare(arr))
            self._maintain()

    def _delete_rows(self, c: Any, rids: np.ndarray, ver: int) -> None:
        args = [(r,) for r in rids.tolist()]
        c.executemany(f"DELETE FROM {self._rows} WHERE rid=?", args)
        for table in self._field_tables.values():
            c.executemany(f"DELETE FROM {table} WHERE rid=?", args)
        c.executemany(f"INSERT OR REPLACE INTO {self._deleted_log}(rid, ver) VALUES (?,?)",
                      [(r, ver) for (r,) in args])

    def _forget(self, rids: np.ndarray) -> None:
        """Drop rows from memory (after their deletion is durable)."""
        for i in self._ids[rids].tolist():
            self._rid_of.pop(i, None)
        self._alive[rids] = False
        self._ids[rids] = None
        self._payloads[rids] = None
        self._columns.clear(rids)
        for field in self._fields.values():
            field.remove(rids)

    def _maintain(self) -> None:
        """Training, compaction and index snapshots after a write (under the write lock).

        Small fields are rebuilt on the spot; big ones in a background thread, so a compaction
        of a 200k-vector HNSW does not freeze readers and writers for minutes (they keep using
        the old index, with tombstones, until the new one is swapped in)."""
        for fname, field in self._fields.items():
            why = field.wants_rebuild()
            if why is None or field.rebuilding:
                if field.unsaved >= self._settings.index_save_every and not field.rebuilding:
                    self._save(field)
                continue
            retrain = why in ("build", "train", "retrain")
            if field.live < self._background_from(why):
                field.rebuild(retrain)
                self._save(field)
            else:
                self._rebuild_in_background(field, retrain)
        self._folder.kick()  # new rows are searchable already (exactly); the folder indexes them

    def _background_from(self, why: str) -> int:
        """Rows from which a rebuild leaves the write path. Training is the costly part (k-means:
        seconds for IVF / PQ at a few thousand rows) and searches stay exact meanwhile, so it goes
        to the background sooner than a compaction."""
        if why in ("train", "retrain"):
            return min(self._settings.background_rebuild_rows, self._settings.background_train_rows)
        return self._settings.background_rebuild_rows

    def _after_folds(self) -> bool:
        """The folder ran out of rows: snapshot what it indexed, and start the rebuilds its folds
        made due (an HNSW for ip whose norm bound a new vector exceeded). True if work was made."""
        for field in self._fields.values():
            if field.unsaved >= self._settings.index_save_every and not field.rebuilding:
                with self._lock.read():
                    if not (self._dropped or self._closed):
                        self._save(field)
        if any(f.wants_rebuild() and not f.rebuilding for f in self._fields.values()):
            with self._lock.write():
                if self._dropped or self._closed:
                    return False
                self._maintain()
            return self._folder.pending()
        return False

    def _save(self, field: FieldIndex) -> None:
        if not self._storage.read_only:
            field.save(self._index_dir, self._next_rid)

    def _rebuild_in_background(self, field: FieldIndex, retrain: bool) -> None:
        plan = field.plan_rebuild(retrain)
        field.rebuilding = True

        def work() -> None:
            try:
                built = field.build(plan)
                with self._lock.write():
                    if not (self._dropped or self._closed):
                        field.install(plan, *built)
                        self._save(field)
            finally:
                field.rebuilding = False
            self._folder.kick()  # rows written during the build are the new index's growing part

        thread = threading.Thread(target=work, name=f"xmodal-index-{self.name}-{field.name}", daemon=True)
        self._workers = [t for t in self._workers if t.is_alive()] + [thread]
        thread.start()

    def wait_for_maintenance(self, timeout: float | None = None) -> bool:
        """Block until background index rebuilds and folds finish (every row is in its field's
        index); False if ``timeout`` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for thread in list(self._workers):
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    return False
            if not self._folder.wait(deadline):
                return False
            if not any(t.is_alive() for t in self._workers):  # a fold's rebuild may have started one
                return True

    def delete(self, ids: Sequence[Id] | None = None, where: Filter | None = None) -> int:
        if ids is None and where is None:
            raise InvalidInput(f"delete from {self.name!r}: give ids or where (where={{}} deletes every row)")
        id_list = id_sequence(ids, self._settings) if ids is not None else None
        node = parse_filter(where, self._schema, self._settings) if where is not None else None
        with self._lock.write():
            self._check_open()
            self._storage.check_writable()
            mask = self._mask(node) if where is not None else self._alive.copy()
            if id_list is not None:
                chosen = np.zeros(len(self._alive), bool)
                found = [r for r in (self._rid_of.get(i) for i in id_list) if r is not None]
                chosen[found] = True
                mask &= chosen
            rids = np.flatnonzero(mask)
            if len(rids) == 0:
                return 0
            ver = self._version + 1
            with self._storage.write() as c:
                self._delete_rows(c, rids, ver)
                c.execute("UPDATE collections SET version=? WHERE cid=?", (ver, self._cid))
            self._version = ver
            self._forget(rids)
            self._maintain()
            return int(len(rids))

    def update_payload(self, ids: Sequence[Id], patch: Mapping[str, Any]) -> int:
        id_list = id_sequence(ids, self._settings)
        if not isinstance(patch, Mapping):
            raise InvalidInput(f"update_payload on {self.name!r}: patch must be a dict")
        clean_patch: dict[str, Any] = {}
        for key, value in patch.items():
            if not isinstance(key, str):
                raise InvalidInput(f"update_payload on {self.name!r}: payload key {key!r} must be a string")
            clean_patch[key] = check_payload_value(key, self._schema[key], value) if key in self._schema else value
        to_json(clean_patch, "payload patch")
        with self._lock.write():
            self._check_open()
            self._storage.check_writable()
            rids = sorted({r for r in (self._rid_of.get(i) for i in id_list) if r is not None})
            if not rids:
                return 0
            merged = []
            for rid in rids:
                p = dict(self._payloads[rid])
                for key, value in clean_patch.items():
                    if value is None:
                        p.pop(key, None)
                    else:
                        p[key] = value
                merged.append(p)
            texts = [to_json(p, "payload") for p in merged]
            ver = self._version + 1
            with self._storage.write() as c:
                c.executemany(f"UPDATE {self._rows} SET payload=?, ver=? WHERE rid=?", zip(texts, [ver] * len(rids), rids))
                c.execute("UPDATE collections SET version=? WHERE cid=?", (ver, self._cid))
            self._version = ver
            for rid, p in zip(rids, merged):
                self._payloads[rid] = p
            self._columns.set_rows(rids, merged)
            return len(rids)

    # ------------------------------------------------------------------ reads
    def _mask(self, node: Node | None) -> np.ndarray:
        size = len(self._alive)
        if node is None:
            return self._alive.copy()
        return self._columns.mask(node, size) & self._alive

    def _parse_filter(self, where: Filter | None) -> tuple[Node | None, HashedKey | None]:
        """parse_filter, memoised for plain filters (the schema of a collection never changes),
        with the parsed filter's cache key (None: not cacheable), hashed once per distinct filter."""
        if where is None:
            return None, None
        plain = filter_key(where)
        if plain is None:
            return parse_filter(where, self._schema, self._settings), None
        key = HashedKey(plain)  # the one hash of this call's filter
        with self._filter_cache_lock:
            got = self._parsed.get(key)
            if got is not None:
                self._parsed.move_to_end(key)
                return got
        node = parse_filter(where, self._schema, self._settings)  # raises on a bad filter: nothing cached
        try:
            parsed = (node, HashedKey(node) if node is not None else None)
        except TypeError:  # a json-field literal (dict / list) is not hashable: no caching
            parsed = (node, None)
        with self._filter_cache_lock:
            self._parsed[key] = parsed
            while len(self._parsed) > 64:
                self._parsed.popitem(last=False)
        return parsed

    def _evaluate(self, fi: FieldIndex, node: Node) -> Allowed:
        """The slots ``node`` allows: through a payload index when the filter has a narrow
        numeric range / equality part (O(log n + allowed)), else by a mask over every row."""
        size = len(self._alive)
        rids = self._columns.rows(node, size, self._settings.payload_index_max_share)
        if rids is None:
            return fi.allowed(self._mask(node))
        return fi.allowed_rids(rids[self._alive[rids]])

    def _allowed(self, fi: FieldIndex, node: Node, node_key: HashedKey | None) -> Allowed:
        """The slots of ``fi`` that ``node`` allows (under the read lock), from a small LRU cache
        keyed by the parsed filter (``node_key``; None: not cacheable) and stamped with the data
        version. A filter enters the cache at its first sighting, but its allowed rows are only
        gathered into a block at its second (see FieldIndex._subset_knn)."""
        if node_key is None:
            return self._evaluate(fi, node)
        key = (fi.name, node_key)
        stamp = (self._version, fi.epoch)
        with self._filter_cache_lock:
            hit = self._filter_cache.get(key)
            if hit is not None and hit[0] == stamp:
                self._filter_cache.move_to_end(key)
                return hit[1]
        value = self._evaluate(fi, node)
        with self._filter_cache_lock:
            if hit is not None or len(self._filter_cache) >= FILTER_CACHE_ENTRIES:
                # Entries of an older version are dead weight (they may hold gathered vectors).
                for old in [k for k, (st, _) in self._filter_cache.items() if st != stamp]:
                    del self._filter_cache[old]
            self._filter_cache[key] = (stamp, value)
            while len(self._filter_cache) > FILTER_CACHE_ENTRIES:
                self._filter_cache.popitem(last=False)
        return value

    def count(self, where: Filter | None = None) -> int:
        node = parse_filter(where, self._schema, self._settings)
        self._fresh()
        with self._lock.read():
            self._check_open()
            if node is None:
                return len(self._rid_of)
            return int(np.count_nonzero(self._mask(node)))

    def get(self, ids: Sequence[Id], with_vectors: bool = False) -> list[Record]:
        id_list = id_sequence(ids, self._settings)
        self._fresh()
        with self._lock.read():
            self._check_open()
            rids = [r for r in (self._rid_of.get(i) for i in id_list) if r is not None]
            return self._records(rids, with_vectors)

    def _records(self, rids: list[int], with_vectors: bool) -> list[Record]:
        vecs = self._stored_vectors(rids) if with_vectors else None
        out = []
        for rid in rids:
            out.append(Record(self._ids[rid], dict(self._payloads[rid]),
                              {f: v[rid] for f, v in vecs.items() if rid in v} if vecs is not None else None))
        return out

    def _stored_vectors(self, rids: Sequence[int]) -> dict[str, dict[int, np.ndarray]]:
        """The vectors exactly as given (not normalised): l2 / ip fields read their arena (the rows
        as given), cosine fields their SQLite table, one query per chunk (the arena holds them
        normalised)."""
        out: dict[str, dict[int, np.ndarray]] = {}
        unique = sorted(set(int(r) for r in rids))
        for fname, table in self._field_tables.items():
            from_arena = self._fields[fname].stored_vectors(np.asarray(unique, dtype=np.int64))
            if from_arena is not None:
                out[fname] = from_arena
                continue
            got: dict[int, np.ndarray] = {}
            for part in chunks(unique):
                marks = ",".join("?" * len(part))
                for rid, blob in self._storage.query(f"SELECT rid, v FROM {table} WHERE rid IN ({marks})", part):
                    got[rid] = np.frombuffer(blob, dtype=np.float32).copy()
            out[fname] = got
        return out

    def scroll(self, where: Filter | None = None, batch_size: int = 1000,
               with_vectors: bool = False) -> Iterator[Record]:
        node = parse_filter(where, self._schema, self._settings)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise InvalidInput(f"batch_size must be a positive integer, got {batch_size!r}")
        self._fresh()
        with self._lock.read():
            self._check_open()
            rids = np.flatnonzero(self._mask(node)).tolist()
        for start in range(0, len(rids), batch_size):
            with self._lock.read():
                part = [r for r in rids[start: start + batch_size] if self._alive[r]]
                records = self._records(part, with_vectors)
            yield from records

    # ------------------------------------------------------------------ search
    def _prepare_query(self, field_name: str, queries: Any, where: Filter | None, params: Mapping[str, Any] | None
                       ) -> tuple[FieldIndex, np.ndarray, tuple[Node | None, HashedKey | None], SearchKnobs]:
        field = self._field(field_name)
        q = check_queries(field_name, field.spec, queries)
        parsed = self._parse_filter(where)
        return field, field.prepare(q), parsed, self._knobs(field_name, field, params)

    def _knobs(self, field_name: str, field: FieldIndex, params: Mapping[str, Any] | None) -> SearchKnobs:
        """The validated search parameters, memoised for a plain dict of plain values (a caller
        passes the same few, e.g. ``{"ef": 32}``, at every call: checking and building them cost as
        much as a tenth of a small HNSW search)."""
        if not params:
            return SearchKnobs.from_params({})
        try:
            key = (field_name, tuple((k, type(v), v) for k, v in params.items())) if type(params) is dict else None
            got = self._knobs_memo.get(key) if key is not None else None
        except TypeError:  # an unhashable value: checked (and refused) below
            key = got = None
        if got is None:
            got = SearchKnobs.from_params(check_query_params(field_name, field.spec, params))
            if key is not None:
                if len(self._knobs_memo) >= 64:
                    self._knobs_memo.clear()
                self._knobs_memo[key] = got
        return got

    def search(self, field: str, queries: np.ndarray, k: int = 10, where: Filter | None = None,
               params: Mapping[str, Any] | None = None, with_payload: bool = True,
               with_vectors: bool = False) -> list[list[Hit]]:
        k = check_k(k)
        fi, q, (node, node_key), knobs = self._prepare_query(field, queries, where, params)
        self._fresh()
        with self._lock.read():
            self._check_open()
            ok = self._allowed(fi, node, node_key) if node is not None else None
            D, I = fi.knn(q, k, ok, knobs)
            return self._hits(fi, D, I, with_payload, with_vectors)

    def _hits(self, fi: FieldIndex, D: np.ndarray, I: np.ndarray, with_payload: bool,
              with_vectors: bool) -> list[list[Hit]]:
        """Hits for a (nq, k) result. Vectorised lookups, then one tight loop: this is most of
        xmodal's per-query overhead over raw FAISS."""
        scores = (np.sqrt(np.maximum(D, 0)) if fi.is_l2 else D).tolist()
        every = all(-1 not in row for row in I.tolist())  # (cheaper than a numpy reduction for a few rows)
        if every and not with_vectors:
            rids = fi.slot_rids[I]
            ids = self._ids[rids].tolist()
            # map() calls Hit from C: no comprehension bytecode per hit (a third of this step's cost)
            if with_payload:
                payloads = self._payloads[rids].tolist()
                return [list(map(Hit, ir, sr, map(dict, pr))) for ir, sr, pr in zip(ids, scores, payloads)]
            return [list(map(Hit, ir, sr)) for ir, sr in zip(ids, scores)]
        valid = I >= 0
        rids = fi.slot_rids[np.where(valid, I, 0)]
        ids = self._ids[rids].tolist()
        payloads = self._payloads[rids] if with_payload else None
        vecs = self._stored_vectors(rids[valid].tolist()) if with_vectors else None
        out = []
        for row, ok_row in enumerate(valid.tolist()):
            hits = []
            for j, ok in enumerate(ok_row):
                if not ok:
                    continue
                rid = int(rids[row, j])
                hits.append(Hit(ids[row][j], scores[row][j],
                                dict(payloads[row, j]) if payloads is not None else None,
                                {f: v[rid] for f, v in vecs.items() if rid in v} if vecs is not None else None))
            out.append(hits)
        return out

    def _within(self, field: str, queries: Any, bound_of: Any, where: Filter | None,
                with_payload: bool, params: Mapping[str, Any] | None) -> list[list[Hit]]:
        fi, q, (node, node_key), knobs = self._prepare_query(field, queries, where, params)
        bound = bound_of(fi)
        self._fresh()
        with self._lock.read():
            self._check_open()
            ok = self._allowed(fi, node, node_key) if node is not None else None
            found = fi.within(q, bound, ok, knobs)
            out = []
            for slots, dist in found:
                order = np.argsort(dist if fi.is_l2 else -dist, kind="stable")
                out.extend(self._hits(fi, dist[order][None, :], slots[order][None, :], with_payload, False))
            return out

    def range_search(self, field: str, queries: np.ndarray, radius: float, where: Filter | None = None,
                     with_payload: bool = True, params: Mapping[str, Any] | None = None) -> list[list[Hit]]:
        if isinstance(radius, bool) or not isinstance(radius, (int, float, np.floating, np.integer)) \
                or not math.isfinite(radius) or radius < 0:
            raise InvalidInput(f"radius must be a finite number >= 0, got {radius!r}")

        def bound(fi: FieldIndex) -> float:
            if fi.spec.metric == "l2":
                return float(radius) ** 2
            if fi.spec.metric == "cosine":
                return 1.0 - float(radius)
            raise InvalidInput(f"range_search on ip field {field!r}: ip has no distance; use threshold_search")

        return self._within(field, queries, bound, where, with_payload, params)

    def threshold_search(self, field: str, queries: np.ndarray, min_similarity: float,
                         where: Filter | None = None, with_payload: bool = True,
                         params: Mapping[str, Any] | None = None) -> list[list[Hit]]:
        t = min_similarity
        if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)) or not math.isfinite(t):
            raise InvalidInput(f"min_similarity must be a finite number, got {t!r}")

        def bound(fi: FieldIndex) -> float:
            if fi.spec.metric == "l2":
                raise InvalidInput(f"threshold_search on l2 field {field!r}: use range_search with a radius")
            return float(t)

        return self._within(field, queries, bound, where, with_payload, params)

    # ------------------------------------------------------------------ maintenance
    def compact(self) -> None:
        """Drop tombstones and rebuild every index now (normally automatic past a tombstone ratio)."""
        self.wait_for_maintenance()
        with self._lock.write():
            self._check_open()
            for field in self._fields.values():
                field.rebuild()
                self._save(field)

    def flush(self) -> None:
        """Snapshot indexes with unsaved additions (speeds up the next open; data is already durable)."""
        with self._lock.write():
            if self._dropped:
                return
            for field in self._fields.values():
                if field.unsaved and not field.rebuilding:
                    self._save(field)

    def _close(self) -> None:
        """At database close: snapshot, and let no background rebuild touch the folder afterwards."""
        self.flush()
        with self._lock.write():
            self._closed = True
        self._folder.join(self._settings.exit_flush_timeout_s)

    def index_info(self) -> dict[str, dict]:
        """Per field: kind, whether it is trained, stored and deleted vectors (for dashboards and tests)."""
        with self._lock.read():
            out = {}
            for name, field in self._fields.items():
                ann = field.ann
                out[name] = {"kind": field.spec.index, "metric": field.spec.metric, "dim": field.spec.dim,
                             "vectors": field.live, "tombstones": field.n_dead,
                             "trained": bool(ann is None or ann.is_trained),
                             "building": field.rebuilding or field.pending_build,
                             "growing": field.growing,
                             "trained_on": int(ann.trained_on) if ann is not None else 0}
            return out

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, rows={len(self._rid_of)}, vectors={list(self._vectors)})"

    def __len__(self) -> int:
        return self.count()
