"""The small SQLite files a library keeps beside its database (keyword index, failure log)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from xmodal.config import DBConfig
from xmodal.errors import StorageError

__all__ = ["open_sidecar"]


def open_sidecar(path: Path, schema: str, what: str, wal: bool = False,
                 busy_timeout_ms: int = DBConfig.sqlite_busy_timeout_ms) -> sqlite3.Connection:
    """Open (creating folder and tables) a connection shared across threads; the caller locks.
    ``busy_timeout_ms``: how long a statement waits for another process's lock (the library's
    ``settings.db.sqlite_busy_timeout_ms``).

    Raises StorageError naming the file and ``what`` it holds."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if wal:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(schema)
        return conn
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(f"{path}: cannot open the {what} ({exc})") from exc
