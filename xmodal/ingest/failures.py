"""Files that could not be indexed, remembered with their size and mtime.

A corrupt 2 GB video should cost one failed decode, not one per run: while the file is unchanged
its failure is reported again from here, without reading it; once it changes it is retried.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Iterable

from xmodal.config import CONFIG
from xmodal.errors import StorageError
from xmodal.ingest.files import FileEntry

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime REAL NOT NULL, kind TEXT, reason TEXT NOT NULL
);
"""


class FailureLog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {CONFIG.db.sqlite_busy_timeout_ms}")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: cannot open the failure log ({exc})") from exc

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
