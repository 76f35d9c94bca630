"""What one server process holds and shares between requests: the database, the loaded media
libraries (each with its encoder, loaded once), the key ring, metrics and the upload folder."""
from __future__ import annotations

import hashlib
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from xmodal.config import Config, ServerConfig, cache_dir, default_db_path
from xmodal.db import connect, locate
from xmodal.errors import InvalidInput, NotFound, StorageError
from xmodal.ingest.library import Library
from xmodal.server.auth import KeyRing
from xmodal.server.jobs import JobRegistry
from xmodal.server.metrics import Metrics
from xmodal.server.namespaces import physical_name

UPLOAD_KEY_CHARS = 16


class ServerState:
    def __init__(self, settings: ServerConfig, db: Any = None, config: Config | None = None):
        self.settings = settings
        self.config = config or Config()  # what the database, encoders and decoders are given
        self.db_location = str(settings.db or default_db_path())
        self.keyring = KeyRing(settings.keys)
        self.metrics = Metrics(settings.latency_window)
        self.jobs = JobRegistry(settings.jobs_kept)
        self.roots = [Path(r).resolve() for r in settings.roots]
        for given, real in zip(settings.roots, self.roots):
            if not real.is_dir():
                raise InvalidInput(f"root {given!r} is not a folder on this server")
        self.upload_root = Path(settings.upload_dir or default_upload_dir(self.db_location)).resolve()
        self._db = db
        self._libraries: dict[str, Library] = {}
        # Models that answered a search or an index in this process: the page warns that the first
        # search of a cold model waits for it to load (seconds), and stops warning once it is warm.
        self.warm_models: set[str] = set()
        self._open_lock = threading.RLock()
        # Writes are serialised; reads (search, get) run concurrently in the worker threads. A local
        # database is opened read-only and becomes this process's to write only inside write_lock,
        # so `xmodal index` in another process can write while the server runs (and it sees that).
        self.write_lock = WriteLease(self)

    # --- database -------------------------------------------------------------------------
    @property
    def db(self):
        if self._db is None:
            with self._open_lock:
                if self._db is None:
                    self._db = open_shared(self.db_location, self.config)
        return self._db

    def physical(self, namespace: str, name: str) -> str:
        return physical_name(namespace, name, self.settings.max_name_chars)

    def collection(self, namespace: str, name: str):
        phys = self.physical(namespace, name)
        if not self.db.has_collection(phys):
            raise NotFound(f"collection {name!r} does not exist in namespace {namespace!r}")
        return self.db.collection(phys)

    # --- media libraries -----------------------------------------------------------------
    def library(self, namespace: str, name: str | None = None, create: bool = False) -> Library:
        """The media library ``name`` of ``namespace``, sharing this server's database; its encoder
        loads on first use and is then reused by every request."""
        name = name or self.settings.default_library
        phys = self.physical(namespace, name)
        if not create and not self.db.has_collection(phys):
            raise NotFound(f"media library {name!r} does not exist in namespace {namespace!r}; "
                           "upload or index media first")
        lib = self._libraries.get(phys)
        if lib is None:
            with self._open_lock:
                lib = self._libraries.get(phys)
                if lib is None:
                    lib = Library(self.db, self.db_location, phys, model=self.settings.model, settings=self.config)
                    self._libraries[phys] = lib
        return lib

    def forget_library(self, namespace: str, name: str) -> None:
        self._libraries.pop(self.physical(namespace, name), None)

    def upload_dir(self, namespace: str, library: str) -> Path:
        d = self.upload_root / namespace / library
        d.mkdir(parents=True, exist_ok=True)
        return d

    def private_paths(self) -> list[tuple[str, str]]:
        """Server folders and their public labels, longest first, for scrubbing error messages."""
        pairs = [(str(self.upload_root), "<uploads>"), (self.db_location, "<db>"),
                 (str(Path(self.db_location).resolve()), "<db>")]
        pairs += [(str(r), f"<root{i}>") for i, r in enumerate(self.roots)]
        return sorted({p: label for p, label in pairs if len(p) > 1}.items(), key=lambda x: -len(x[0]))

    def scrub(self, message: str) -> str:
        """``message`` with every server folder replaced by its label: lower layers name files by
        full path, clients must not learn the server's layout."""
        for path, label in self.private_paths():
            message = message.replace(path, label)
        return message

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._libraries.clear()




def open_shared(location: str, settings: Config | None = None):
    """The server's handle: a local database read-only (created first when it does not exist),
    written through :class:`WriteLease`; a Milvus URI as it is (the server arbitrates writers)."""
    if not locate(location).embedded:
        return connect(location, settings)
    try:
        return connect(location, settings, mode="r")
    except StorageError:
        if Path(location).exists() and any(Path(location).iterdir()):
            raise  # something else than a missing database: say what
    connect(location, settings, mode="w").close()  # a new, empty database; the lock is released at once
    return connect(location, settings, mode="r")


class WriteLease:
    """``with state.write_lock:`` serialises this process's writers (re-entrant) and, for a local
    database, holds the writer lock only for the block (``Database.writing``), waiting at most
    ``ServerConfig.writer_wait_s`` for another process's writer to finish."""

    def __init__(self, state: "ServerState"):
        self._state = state
        self._lock = threading.RLock()
        self._depth = 0
        self._writing: Any = None

    def __enter__(self) -> None:
        self._enter(self._state.settings.writer_wait_s)

    @contextmanager
    def patient(self) -> Iterator[None]:
        """The same for a background job: it waits for another process's writer as long as that
        takes (its client polls the job and sees it waiting)."""
        self._enter(None)
        try:
            yield
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        self.__exit__(None, None, None)

    def _enter(self, timeout: float | None) -> None:
        self._lock.acquire()
        try:
            if self._depth == 0:
                writing = getattr(self._state.db, "writing", None)
                if writing is not None:
                    ctx = writing(timeout)
                    ctx.__enter__()
                    self._writing = ctx
            self._depth += 1
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, *exc: Any) -> None:
        try:
            self._depth -= 1
            if self._depth == 0 and self._writing is not None:
                ctx, self._writing = self._writing, None
                ctx.__exit__(*exc)
        finally:
            self._lock.release()


def default_upload_dir(db_location: str) -> Path:
    """``<db>.uploads`` beside a local database; for a Milvus URI, a folder in the user's cache
    keyed by the address (a URI is not a place on this disk)."""
    if not locate(db_location).embedded:
        digest = hashlib.sha1(db_location.encode()).hexdigest()[:UPLOAD_KEY_CHARS]
        return cache_dir() / "server-uploads" / digest
    return Path(f"{db_location}.uploads")
