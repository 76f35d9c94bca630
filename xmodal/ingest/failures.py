"""Files that could not be indexed, remembered with their size and mtime.

A corrupt 2 GB video should cost one failed decode, not one per run: while the file is unchanged
its failure is reported again from here, without reading it; once it changes it is retried.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterable

from xmodal.config import DBConfig
from xmodal.ingest.files import FileEntry
from xmodal.ingest.sidecar import open_sidecar

__all__ = ["FailureLog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime REAL NOT NULL, kind TEXT, reason TEXT NOT NULL
);
"""


class FailureLog:
    def __init__(self, path: str | Path, busy_timeout_ms: int = DBConfig.sqlite_busy_timeout_ms):
        """``busy_timeout_ms``: how long a statement waits for another process's lock."""
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = open_sidecar(self.path, _SCHEMA, "failure log", busy_timeout_ms=busy_timeout_ms)

    def known(self, entry: FileEntry) -> tuple[str | None, str] | None:
        """``(kind, reason)`` when this exact file (same size and mtime) failed before."""
        with self._lock:
            row = self._conn.execute("SELECT size, mtime, kind, reason FROM failures WHERE path = ?",
                                     (entry.path,)).fetchone()
        if row is None or row[0] != entry.size or row[1] != entry.mtime:
            return None
        return row[2], row[3]

    def record(self, entry: FileEntry, kind: str | None, reason: str) -> None:
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO failures VALUES (?,?,?,?,?)",
                               (entry.path, entry.size, entry.mtime, kind, reason))

    def forget(self, paths: Iterable[str]) -> None:
        with self._lock, self._conn:
            self._conn.executemany("DELETE FROM failures WHERE path = ?", [(p,) for p in paths])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
