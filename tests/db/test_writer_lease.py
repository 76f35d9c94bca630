"""A read-only handle that writes now and then (``Database.writing``, what ``xmodal serve`` does):
it holds the writer lock only inside the block, catches up with other writers before writing,
and a writer process busy elsewhere makes it wait or fail with that process's pid."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.db.writer_process import BATCH, batch_ids, batch_vectors
from xmodal.db import Database
from xmodal.db.locks import ProcessLock
from xmodal.errors import ReadOnlyError

ROOT = str(Path(__file__).resolve().parents[2])


def _writer_process(folder) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tests.db.writer_process", str(folder), "0", "hold"],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "READY"
    return proc


def _send(proc: subprocess.Popen, cmd: str) -> None:
    proc.stdin.write(cmd + "\n")
    proc.stdin.flush()
    if cmd != "quit":
        assert proc.stdout.readline().strip() == "OK"


def test_reader_writes_between_other_writers_and_catches_up_first(tmp_path):
    folder = tmp_path / "db"
    other = _writer_process(folder)
    try:
        _send(other, "up 1")
        ro = Database(folder, mode="r")
        col = ro.collection("c")
        assert col.count() == BATCH
        with pytest.raises(ReadOnlyError, match=f"pid {other.pid}"):
            with ro.writing(timeout=0):
                pass
        assert ro.read_only
        _send(other, "up 2")  # committed while this handle has not looked yet
    finally:
        _send(other, "quit")
        other.wait(timeout=60)
    with ro.writing(timeout=None):
        assert not ro.read_only
        assert col.count() == 2 * BATCH  # caught up before writing: no row id is handed out twice
        col.upsert(batch_ids(3), {"v": batch_vectors(3)}, [{"batch": 3}] * BATCH)
        with ro.writing():  # nested: still the writer
            col.delete(where={"batch": 1})
    assert ro.read_only
    probe = ProcessLock(folder)
    assert probe.try_acquire()  # released: another process may write now
    probe.release()
    for b in (2, 3):
        hits = col.search("v", batch_vectors(b), k=1, with_payload=False)
        assert [h[0].id for h in hits] == batch_ids(b)
    assert col.count() == 2 * BATCH and col.count({"batch": 1}) == 0
    ro.close()
    with Database(folder, mode="w") as again:  # what the lease wrote is durable and consistent
        assert again.collection("c").count() == 2 * BATCH
