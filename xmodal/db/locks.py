"""Locks: many reader threads + one writer inside a process, one writer process per database."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from xmodal.errors import StorageError

__all__ = ["ReadWriteLock", "ProcessLock"]


class ReadWriteLock:
    """Readers share, a writer is alone; waiting writers block new readers so writes are not starved.

    FAISS releases the GIL while searching, so shared reads really run in parallel."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        self._readers = 0
        self._writer: int | None = None
        self._writer_depth = 0
        self._waiting_writers = 0

    def read(self) -> "_ReadGuard":
        """``with lock.read():`` -- a plain object rather than a generator: this runs once per
        search, where microseconds count."""
        return _ReadGuard(self)

    def _acquire_read(self) -> bool:
        if self._writer == threading.get_ident():  # a writer may read what it is writing
            return False
        # The usual case (no writer, none waiting) takes the bare mutex: Condition's Python-level
        # __enter__ / notify cost a few microseconds per search (issue 16: per-call overhead).
        with self._mutex:
            if self._writer is None and not self._waiting_writers:
                self._readers += 1
                return True
        with self._cond:
            while self._writer is not None or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        return True

    def _release_read(self) -> None:
        with self._mutex:
            self._readers -= 1
            # Only a writer waits for the readers to leave (readers wait for writers, who notify).
            if not self._readers and self._waiting_writers:
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._writer_depth += 1
            else:
                self._waiting_writers += 1
                while self._writer is not None or self._readers:
                    self._cond.wait()
                self._waiting_writers -= 1
                self._writer = me
                self._writer_depth = 1
        try:
            yield
        finally:
            with self._cond:
                self._writer_depth -= 1
                if not self._writer_depth:
                    self._writer = None
                    self._cond.notify_all()


class _ReadGuard:
    __slots__ = ("_lock", "_held")

    def __init__(self, lock: ReadWriteLock) -> None:
        self._lock = lock
        self._held = False

    def __enter__(self) -> None:
        self._held = self._lock._acquire_read()

    def __exit__(self, *exc: object) -> None:
        if self._held:
            self._lock._release_read()


class ProcessLock:
    """An advisory ``flock`` on ``<folder>/LOCK``: the holder is the one writer process.

    The kernel drops it when the process dies (even by kill -9), so a crash never leaves the
    database locked."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "LOCK"
        self._fh: IO[str] | None = None

    def try_acquire(self) -> bool:
        import fcntl

        try:
            fh = open(self.path, "a+")
        except OSError as exc:
            raise StorageError(f"cannot open lock file {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
