"""The embedded database: a folder holding collections (see :mod:`xmodal.db.storage` for the files)."""
from __future__ import annotations

import atexit
import contextlib
import json
import shutil
import threading
from pathlib import Path
from typing import Any, Iterator, Mapping

from xmodal.config import Config, DBConfig
from xmodal.db.api import BaseDatabase, VectorField
from xmodal.db.collection import Collection, to_json
from xmodal.db.indexes import configure_faiss_threads
from xmodal.db.schema import check_name, check_payload_schema, check_vector_field
from xmodal.db.storage import Storage
from xmodal.errors import AlreadyExists, InvalidInput, NotFound

__all__ = ["Database"]

_OPEN: dict[Path, "Database"] = {}  # one engine per folder per process
_OPEN_LOCK = threading.Lock()


@atexit.register
def _close_all() -> None:
    """Snapshot indexes of databases left open at exit, so the next open is fast."""
    def close(db: "Database") -> None:
        try:
            db._refs = 1
            db.close()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass

    for db in list(_OPEN.values()):
        # In a thread with a time limit: a lock still held by some thread must not hang the exit
        # (the data is durable already; only the snapshot is lost).
        worker = threading.Thread(target=close, args=(db,), daemon=True)
        worker.start()
        worker.join(db.settings.exit_flush_timeout_s)


class Database(BaseDatabase):
    """A database folder. ``mode``: "auto" (default) writes when no other process holds the
    folder and otherwise opens read-only; "w" insists on writing; "r" only reads.

    One process writes at a time (file lock); inside it, any number of threads may read while
    one writes. Opening the same folder again in one process returns the same object (so two
    parts of a program never see different states); it closes when every opener has closed it.
    A read-only handle (another process writes) catches up with the writer's commits on its own
    (see ``Collection.refresh``).

    ``settings``: this database's tuning (its ``db`` section: index defaults such as HNSW M / ef,
    SQLite pragmas, planner costs, limits); default ``Config()``, the environment not applied (the
    CLI and the server pass ``Config.from_env()``). A folder already open in this process is handed
    out with the settings it was first opened with."""

    _refs: int
    settings: DBConfig

    def __new__(cls, path: str | Path, mode: str = "auto", settings: Config | None = None) -> "Database":
        key = Path(path).resolve()
        with _OPEN_LOCK:
            existing = _OPEN.get(key)
            if existing is not None and not (mode == "w" and existing.read_only):
                existing._refs += 1
                return existing
            obj = super().__new__(cls)
            obj._refs = 0
            return obj

    def __init__(self, path: str | Path, mode: str = "auto", settings: Config | None = None) -> None:
        if self._refs:  # an already open engine handed out again by __new__
            return
        self.path = Path(path)
        self.settings = (settings or Config()).db
        configure_faiss_threads(self.settings.faiss_threads)
        self._storage = Storage(self.path, mode, self.settings)
        self._collections: dict[str, Collection] = {}
        self._lock = threading.RLock()
        self._closed = False
        self._writer_guard = threading.RLock()  # one thread at a time turns this handle into the writer
        self._writing_depth = 0
        self._promoted = False
        self._refs = 1
        with _OPEN_LOCK:
            _OPEN[self.path.resolve()] = self

    @property
    def read_only(self) -> bool:
        return self._storage.read_only

    @contextlib.contextmanager
    def writing(self, timeout: float | None = None) -> Iterator["Database"]:
        """Make a read-only handle this folder's one writer for the block, then a reader again.

        For a long-lived reader that writes now and then (``xmodal serve``): it holds the writer
        lock only while it writes, so ``xmodal index`` in another process can write in between.
        Waits up to ``timeout`` s (None: for ever) for another writer process to finish, then
        raises :class:`ReadOnlyError` naming it. Loaded collections catch up with that writer's
        commits before the block runs. Nested blocks and a handle that already writes: no-op."""
        with self._writer_guard:
            self._check_open()
            outermost = self._writing_depth == 0 and self._storage.read_only
            if outermost:
                self._storage.take_writer_lock(timeout)  # waiting here blocks no reader
                with self._lock:
                    try:
                        for col in list(self._collections.values()):
                            col.refresh()  # still flagged read-only: catches up with the last writer
                    except BaseException:
                        self._storage.drop_writer_lock()
                        raise
                    self._storage.read_only = False
                    self._promoted = True
            self._writing_depth += 1
            try:
                yield self
            finally:
                self._writing_depth -= 1
                if self._writing_depth == 0 and self._promoted:
                    with self._lock:
                        for col in list(self._collections.values()):
                            col.flush()  # snapshots for the next writer, while the lock is still ours
                        self._storage.drop_writer_lock()
                        self._promoted = False

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidInput(f"database {self.path} is closed")

    def create_collection(self, name: str, vectors: Mapping[str, VectorField],
                          payload_schema: Mapping[str, str] | None = None,
                          metadata: Mapping[str, Any] | None = None,
                          exist_ok: bool = False) -> Collection:
        check_name(name, "collection", self.settings)
        if not isinstance(vectors, Mapping) or not vectors:
            raise InvalidInput(f"collection {name!r}: declare at least one vector field")
        fields = {f: check_vector_field(f, spec, self.settings) for f, spec in vectors.items()}
        schema = check_payload_schema(payload_schema, self.settings)
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InvalidInput(f"collection {name!r}: metadata must be a dict")
        spec = {"vectors": {f: s.to_dict() for f, s in fields.items()}, "payload": schema}
        meta_text = to_json(dict(metadata or {}), f"collection {name!r} metadata")
        with self._lock:
            self._check_open()
            row = self._storage.query("SELECT spec FROM collections WHERE name=?", (name,))
            if row:
                if exist_ok and json.loads(row[0][0]) == spec:
                    return self.collection(name)
                raise AlreadyExists(f"collection {name!r} already exists"
                                    + (" with a different schema" if exist_ok else ""))
            with self._storage.write() as c:
                cid = (c.execute("SELECT COALESCE(MAX(cid), 0) + 1 FROM collections").fetchone()[0])
                c.execute("INSERT INTO collections(name, cid, spec, metadata, next_rid, version) VALUES (?,?,?,?,0,0)",
                          (name, cid, json.dumps(spec), meta_text))
                c.execute(f"CREATE TABLE r{cid}(rid INTEGER PRIMARY KEY, id UNIQUE NOT NULL, payload TEXT NOT NULL,"
                          " ver INTEGER NOT NULL)")
                c.execute(f"CREATE INDEX r{cid}_ver ON r{cid}(ver)")
                c.execute(f"CREATE TABLE d{cid}(rid INTEGER PRIMARY KEY, ver INTEGER NOT NULL)")
                c.execute(f"CREATE INDEX d{cid}_ver ON d{cid}(ver)")
                for j in range(len(fields)):
                    c.execute(f"CREATE TABLE v{cid}_{j}(rid INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            shutil.rmtree(self.path / "indexes" / f"c{cid}", ignore_errors=True)  # leftovers of a dropped cid
            return self.collection(name)

    def collection(self, name: str) -> Collection:
        with self._lock:
            self._check_open()
            col = self._collections.get(name)
            if col is not None:
                return col
            rows = self._storage.query("SELECT cid, spec, metadata, next_rid, version FROM collections WHERE name=?",
                                       (name,))
            if not rows:
                raise NotFound(f"no collection {name!r} in database {self.path}")
            cid, spec, meta, next_rid, version = rows[0]
            col = Collection(self, name, cid, json.loads(spec), json.loads(meta), next_rid, version)
            self._collections[name] = col
            return col

    def list_collections(self) -> list[str]:
        self._check_open()
        return [r[0] for r in self._storage.query("SELECT name FROM collections ORDER BY name")]

    def drop_collection(self, name: str) -> None:
        with self._lock:
            self._check_open()
            rows = self._storage.query("SELECT cid, spec FROM collections WHERE name=?", (name,))
            if not rows:
                raise NotFound(f"no collection {name!r} in database {self.path}")
            cid, spec = rows[0]
            col = self._collections.get(name)
            lock = col._lock.write() if col is not None else contextlib.nullcontext()
            with lock:
                with self._storage.write() as c:
                    c.execute("DELETE FROM collections WHERE cid=?", (cid,))
                    c.execute(f"DROP TABLE IF EXISTS r{cid}")
                    c.execute(f"DROP TABLE IF EXISTS d{cid}")
                    for j in range(len(json.loads(spec)["vectors"])):
                        c.execute(f"DROP TABLE IF EXISTS v{cid}_{j}")
                if col is not None:
                    col._dropped = True
                self._collections.pop(name, None)
            shutil.rmtree(self.path / "indexes" / f"c{cid}", ignore_errors=True)

    def close(self) -> None:
        with _OPEN_LOCK:
            self._refs -= 1
            if self._refs > 0:
                return
            if _OPEN.get(self.path.resolve()) is self:
                del _OPEN[self.path.resolve()]
        with self._lock:
            if self._closed:
                return
            for col in self._collections.values():
                col._close()  # index snapshots (best effort): the data itself is already durable
            self._collections.clear()
            self._storage.close()
            self._closed = True

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r}{', read-only' if self.read_only else ''})"
