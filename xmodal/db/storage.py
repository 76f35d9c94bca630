"""The durable part of a database folder: one SQLite file in WAL mode.

Why SQLite: a committed transaction survives ``kill -9`` (WAL + synchronous=NORMAL; FULL for
power loss), a batch is all-or-none, readers never block the writer, and a torn write cannot
happen. Ids, payloads and float32 vector blobs all live here; FAISS indexes are derived data
kept as snapshots next to it (``indexes/``) and rebuilt or caught up from these tables.

Layout (FORMAT_VERSION 1)::

    meta(key, value)                        format_version, created_by
    collections(name, cid, spec, metadata, next_rid, version)      version: bumped by each write
    r<cid>(rid INTEGER PRIMARY KEY, id UNIQUE, payload TEXT, ver)  id keeps its type: 1 != '1'
    d<cid>(rid INTEGER PRIMARY KEY, ver)                            deletions, for read-only catch-up
    v<cid>_<j>(rid INTEGER PRIMARY KEY, v BLOB)                    one table per vector field j

``rid`` (row id) is never reused: index snapshots can then tell which rows came after them.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from xmodal.config import FORMAT_VERSION, DBConfig
from xmodal.db.locks import ProcessLock
from xmodal.errors import InvalidInput, ReadOnlyError, StorageError

__all__ = ["DB_FILE", "MODES", "SYNC_LEVELS", "SQL_PARAM_CHUNK", "chunks", "Storage"]

DB_FILE = "xmodal.sqlite"
MODES = ("auto", "w", "r")
SYNC_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")  # SQLite PRAGMA synchronous
SQL_PARAM_CHUNK = 900  # stay under SQLite's bound-parameter limit


def chunks(seq: Sequence[Any], size: int = SQL_PARAM_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i: i + size]


class Storage:
    """Owns the SQLite connection and the process lock of one database folder.

    ``mode``: ``"w"`` needs the write lock (StorageError if another process holds it), ``"r"``
    opens read-only, ``"auto"`` writes when it can and otherwise opens read-only. ``settings``:
    the database's own (page size, busy timeout, synchronous level).
    """

    def __init__(self, folder: Path, mode: str = "auto", settings: DBConfig | None = None) -> None:
        settings = self.settings = settings or DBConfig()
        if mode not in MODES:
            raise InvalidInput(f"database mode {mode!r} is unknown (known: {', '.join(MODES)})")
        if settings.sqlite_synchronous.upper() not in SYNC_LEVELS:
            raise InvalidInput(f"DBConfig.sqlite_synchronous {settings.sqlite_synchronous!r} is unknown "
                               f"(known: {', '.join(SYNC_LEVELS)})")
        self.folder = folder
        self.read_only = mode == "r"
        self.lock = threading.RLock()  # one thread at a time on the connection
        self._plock = ProcessLock(folder)
        if folder.exists() and not folder.is_dir():
            raise StorageError(f"database path {folder} exists and is not a folder")
        if not self.read_only:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create database folder {folder}: {exc.strerror or exc}") from exc
            if not self._plock.try_acquire():
                if mode == "w":
                    raise StorageError(
                        f"database {folder} is open for writing by another process (pid {self._plock.holder()})"
                    )
                self.read_only = True
        path = folder / DB_FILE
        if self.read_only and not path.exists():
            raise StorageError(f"no database at {folder} (nothing to open read-only)")
        try:
            if self.read_only:
                self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                            check_same_thread=False)
            else:
                self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
                # Takes effect only when the file is created; big pages suit vector blobs.
                self.conn.execute(f"PRAGMA page_size={int(settings.sqlite_page_size)}")
            self.conn.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
            if not self.read_only:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute(f"PRAGMA synchronous={settings.sqlite_synchronous.upper()}")
                self._init_schema()
            self._check_format()
        except sqlite3.Error as exc:
            self._plock.release()
            raise StorageError(f"cannot open database {folder}: {exc}") from exc

    # ------------------------------------------------------------------ format
    def _init_schema(self) -> None:
        with self.write() as c:
            c.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)")
            c.execute("CREATE TABLE IF NOT EXISTS collections(name TEXT PRIMARY KEY, cid INTEGER UNIQUE,"
                      " spec TEXT NOT NULL, metadata TEXT NOT NULL, next_rid INTEGER NOT NULL, version INTEGER NOT NULL)")
            c.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('format_version', ?)", (str(FORMAT_VERSION),))

    def _check_format(self) -> None:
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.folder / DB_FILE} is not an xmodal database ({exc})") from exc
        version = int(row[0]) if row else 0
        if version > FORMAT_VERSION:
            raise StorageError(
                f"database {self.folder} has on-disk format {version}, newer than this xmodal supports"
                f" ({FORMAT_VERSION}); upgrade xmodal to open it"
            )
        if version < 1:
            raise StorageError(f"database {self.folder} has no format version: not an xmodal database")

    # ------------------------------------------------------------------ access
    def check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(
                f"database {self.folder} is open read-only (writer: pid {self._plock.holder()})"
            )

    def take_writer_lock(self, timeout: float | None) -> None:
        """A read-only handle waits (up to ``timeout`` s; None: for ever) for the process lock,
        then writes through a read-write connection until :meth:`drop_writer_lock`."""
        if not self.read_only:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._plock.try_acquire():
            if deadline is not None and time.monotonic() >= deadline:
                raise ReadOnlyError(f"database {self.folder} is being written by another process "
                                    f"(pid {self._plock.holder()}); waited {timeout:g} s, try again when it finishes")
            time.sleep(self.settings.writer_poll_s)  # flock has no timeout; a poll bounds the wait
        try:
            conn = sqlite3.connect(str(self.folder / DB_FILE), isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={int(self.settings.sqlite_busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.settings.sqlite_synchronous.upper()}")
        except sqlite3.Error as exc:
            self._plock.release()
            raise StorageError(f"cannot open database {self.folder} for writing: {exc}") from exc
        with self.lock:  # the caller flips ``read_only`` once its readers caught up
            self._ro_conn, self.conn = self.conn, conn

    def drop_writer_lock(self) -> None:
        """Back to reading only (after :meth:`take_writer_lock`): another process may write now."""
        ro = getattr(self, "_ro_conn", None)
        if ro is None:
            return
        with self.lock:
            rw, self.conn, self._ro_conn = self.conn, ro, None
            self.read_only = True
            try:
                rw.close()
            except sqlite3.Error:
                pass
            self._plock.release()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed whole when the block ends, rolled back on any error."""
        self.check_writable()
        with self.lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"database {self.folder}: cannot start a write: {exc}") from exc
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(exc, sqlite3.Error):
                    raise StorageError(f"database {self.folder}: write failed, nothing changed: {exc}") from exc
                raise

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Several reads seeing one consistent state (a WAL read transaction)."""
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                yield
            finally:
                self.conn.execute("COMMIT")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self.lock:
            try:
                return self.conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"database {self.folder}: read failed: {exc}") from exc

    def close(self) -> None:
        self.drop_writer_lock()
        with self.lock:
            try:
                self.conn.close()
            except sqlite3.Error:
                pass
            self._plock.release()
