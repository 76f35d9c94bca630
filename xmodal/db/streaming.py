"""Streaming inserts: a small exact "growing" part beside each field's ANN index.

Why: inserting into HNSW costs ~0.4 ms a row on one core -- 30x a SQLite commit -- so it must leave
the write path (issue 16). An upsert is made durable and appended to the field's exact store;
the slots past the index (``FieldIndex.indexed``) form the growing part, which searches scan
exactly and merge with the index's answer, so every acknowledged row is searchable at once. A
background *folder* (one thread per collection, started on demand) adds the growing rows to the
index a chunk at a time, as Milvus seals growing segments and Qdrant's optimiser indexes them.

Slots keep their meaning throughout: the index holds slots ``[0, indexed)`` and the growing part
is ``[indexed, n)``, so deletes (slot tombstones) and payload updates (by row id) apply to both
parts alike, and a fold only moves the boundary. The index is derived data: a crash at any point
of a fold loses nothing (the rows are in SQLite; the next open re-adds what no snapshot holds).

Locking: the collection's read / write lock guards the slots and the exact store; each field's
``ann_lock`` guards its index. A fold copies its rows under the collection's read lock, then adds
them under the index's write lock only, so writers never wait for HNSW insertion and searches
wait at most one chunk. Lock order is collection, then index; the folder never holds the index
lock while asking for the collection's.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Iterable, Protocol

import numpy as np

__all__ = ["FOLD_HOOKS", "run_fold_hooks", "merge_knn", "Foldable", "Folder"]

# Test hooks, called as hook(field_name, first_slot, end_slot, phase) by the folder thread:
# phase "start" after it copied the rows and before it touches the index (no lock held, so a
# hook may block to hold a fold open), "added" once the index holds them but before the growing
# part shrinks (the index lock is held: a hook must not wait on searches there). Tests use them
# to kill a process or delete rows *during* a fold, synchronised on the event rather than on time.
FOLD_HOOKS: list[Callable[[str, int, int, str], None]] = []


def run_fold_hooks(field: str, lo: int, hi: int, phase: str) -> None:
    for hook in list(FOLD_HOOKS):
        hook(field, lo, hi, phase)


def merge_knn(D1: np.ndarray, I1: np.ndarray, D2: np.ndarray, I2: np.ndarray, k: int,
              is_l2: bool) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of two (nq, *) results in FAISS space (squared L2 ascending, inner product
    descending); -1 slots lose to everything and come back as (0, -1) padding."""
    D = np.concatenate([D1, D2], axis=1)
    I = np.concatenate([I1, I2], axis=1)
    worst = np.float32(np.inf if is_l2 else -np.inf)
    D = np.where(I >= 0, D, worst)
    order = np.argsort(D if is_l2 else -D, axis=1, kind="stable")[:, :k]
    D = np.take_along_axis(D, order, axis=1)
    I = np.take_along_axis(I, order, axis=1)
    bad = I < 0
    return np.where(bad, 0, D).astype(np.float32), np.where(bad, -1, I)


class Foldable(Protocol):
    """What the folder needs of a vector field (``FieldIndex``)."""

    name: str

    def fold_pending(self) -> bool: ...

    def fold_step(self, lock: object, max_rows: int) -> int: ...


class Folder:
    """The background thread of one collection that folds growing parts into their indexes.

    ``kick()`` (after a write) starts it unless it runs; it exits when no field has work left.
    The running flag is cleared under the same small lock ``kick`` takes, after a last look for
    work, so a write landing while the thread winds down always gets a new thread."""

    def __init__(self, name: str, lock: object, fields: Callable[[], Iterable[Foldable]], step: Callable[[], int],
                 stopped: Callable[[], bool], after_idle: Callable[[], bool], nice: int = 0) -> None:
        """``lock``: the collection's read / write lock (a fold copies its rows under its read
        side); ``fields``: the collection's fields; ``step``: a fold's size in rows; ``stopped``: the
        collection is closed or dropped; ``after_idle``: called when nothing is left to fold (for
        snapshots and rebuilds the folds made due); True when it made new work. ``nice``: how much
        lower the thread's CPU priority is than the writer's (Linux): on a busy machine the
        acknowledged writes win and the folds take the spare cycles."""
        self._name = name
        self._lock = lock
        self._fields = fields
        self._step = step
        self._stopped = stopped
        self._after_idle = after_idle
        self._nice = nice
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._waiters = 0  # callers blocked in wait(): the folds are no longer spare-cycle work
        self._idle_due = False  # a niced thread handed over before its idle step: the next one owes it
        self.error: BaseException | None = None  # what stopped the last run, if anything did

    def pending(self) -> bool:
        return any(f.fold_pending() for f in self._fields())

    def running(self) -> bool:
        t = self._thread
        return t is not None and t.is_alive()

    def _due(self) -> bool:
        return self.pending() or self._idle_due

    def kick(self) -> None:
        if self._stopped() or not self._due():
            return
        with self._guard:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._run, name=f"xmodal-fold-{self._name}", daemon=True)
            self._thread = thread
            self._idle_due = False  # every run ends with the idle step
        thread.start()

    @property
    def waiters(self) -> int:
        """Callers blocked in :meth:`wait` now."""
        return self._waiters

    def _lower_priority(self) -> bool:
        """Lower this thread's CPU priority by ``nice``; True if it was lowered. One way only: an
        unprivileged thread cannot raise its priority again, so a niced thread that a waiter
        needs at full speed hands over to a new one instead (see :meth:`_run`)."""
        if self._nice <= 0 or not hasattr(os, "setpriority"):
            return False
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + self._nice))
        except OSError:
            return False
        return True

    def _handover(self) -> bool:
        """Called by a niced thread between steps: when a caller waits for the folds, leave (the
        waiter starts a thread at its own priority). On a busy machine a niced folder gets a few
        percent of a core, so the wait -- and any build that ends in one -- took many times
        FAISS's own build time (issue 16: hnsw at 200k did not finish in 2,400 s)."""
        with self._guard:
            if self._waiters == 0:
                return False
            self._thread = None
            self._idle_due = True  # the idle step (snapshots, rebuilds its folds made due) is still owed
            return True

    def _run(self) -> None:
        niced = False
        try:
            while not self._stopped():
                if niced and self._handover():
                    return
                if not niced and self._waiters == 0:
                    niced = self._lower_priority()  # nobody waits: spare cycles are enough
                did = 0
                for field in self._fields():
                    did += field.fold_step(self._lock, self._step())
                if did:
                    continue
                if self._after_idle():
                    continue
                with self._guard:
                    if self._stopped() or not self.pending():
                        self._thread = None
                        return
        except BaseException as exc:  # noqa: BLE001 - recorded; searches stay exact over the rest
            self.error = exc
        with self._guard:
            self._thread = None

    def join(self, timeout: float | None = None) -> None:
        """After the collection stopped: wait for the thread to leave (it finishes its step).
        Called at close, so no daemon thread is left inside FAISS when the interpreter exits
        (which aborts the process)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def wait(self, deadline: float | None) -> bool:
        """Until the folder is idle with nothing pending (or ``deadline``, a monotonic time).
        While a caller waits the folds run at the caller's priority: a niced folder thread hands
        over after its current step to one started here (threads inherit their creator's)."""
        with self._guard:
            self._waiters += 1
        try:
            while True:
                thread = self._thread
                if thread is None:
                    if self._stopped() or not self._due() or self.error is not None:
                        return True
                    self.kick()
                    continue
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                thread.join(remaining)
        finally:
            with self._guard:
                self._waiters -= 1
