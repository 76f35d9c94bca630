"""Many reader threads and one writer in a process; a second process gets read-only access or a clear error."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from tests.db.writer_process import BATCH, DIM, batch_ids, batch_vectors, open_collection
from xmodal.db import Database, VectorField
from xmodal.errors import ReadOnlyError, StorageError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_readers_and_a_writer_threads(db):
    col = db.create_collection("c", vectors={"v": VectorField(8, "cosine", "hnsw", {"M": 8})},
                               payload_schema={"batch": "int"})
    rng = np.random.default_rng(0)
    batches = 40
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for b in range(batches):
                ids = [b * 25 + i for i in range(25)]
                col.upsert(ids, {"v": rng.standard_normal((25, 8))}, [{"batch": b, "me": i} for i in ids])
                if b % 4 == 3:
                    col.delete(where={"batch": b - 2})
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            done.set()

    def reader(seed: int) -> None:
        r = np.random.default_rng(seed)
        try:
            while not done.is_set():
                n = col.count()
                assert n % 25 == 0  # a batch is visible whole or not at all
                for row in col.search("v", r.standard_normal((3, 8)), k=10, where=None):
                    for h in row:
                        assert h.payload["me"] == h.id  # payload belongs to the id returned
                got = col.get([0, 1, 2])
                assert all(rec.payload["me"] == rec.id for rec in got)
                col.range_search("v", r.standard_normal(8), radius=0.3)
                assert sum(1 for _ in col.scroll(where={"batch": {"$gte": 0}}, batch_size=50)) >= 0
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[0]
    deleted = {b - 2 for b in range(batches) if b % 4 == 3}
    assert col.count() == 25 * (batches - len(deleted))
    assert col.count({"batch": {"$in": sorted(deleted)}}) == 0


def child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_second_process_reads_only_or_gets_a_clear_error(tmp_path):
    folder = tmp_path / "db"
    db, col = open_collection(str(folder))  # this process is the writer
    col.upsert(batch_ids(0), {"v": batch_vectors(0)}, [{"batch": 0}] * BATCH)
    res = child(f"""
from xmodal.db import Database
from xmodal.errors import ReadOnlyError, StorageError
import numpy as np
try:
    Database({str(folder)!r}, mode="w")
except StorageError as e:
    print("W-REFUSED", "another process" in str(e) and str({os.getpid()}) in str(e))
ro = Database({str(folder)!r})
col = ro.collection("c")
print("RO", ro.read_only, col.count(), col.search("v", np.ones({DIM}), k=3)[0][0].payload["batch"])
try:
    col.upsert([1], {{"v": np.ones({DIM})}})
except ReadOnlyError as e:
    print("RO-REFUSED", "read-only" in str(e))
""")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[:3] == ["W-REFUSED True", f"RO True {BATCH} 0", "RO-REFUSED True"]
    db.close()


def test_lock_is_released_when_the_writer_dies(tmp_path):
    folder = tmp_path / "db"
    proc = subprocess.Popen([sys.executable, "-m", "tests.db.writer_process", str(folder), "0", "hold"],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "READY"
    ro = Database(folder)
    assert ro.read_only and ro.collection("c").count() == 0
    with pytest.raises(ReadOnlyError):
        ro.create_collection("x", vectors={"v": VectorField(2)})
    with pytest.raises(StorageError, match=f"pid {proc.pid}"):
        Database(folder, mode="w")
    ro.close()
    proc.kill()
    proc.wait()
    with Database(folder, mode="w") as db:
        assert not db.read_only
        db.collection("c").upsert([1], {"v": np.ones(DIM)})


def test_same_folder_twice_in_one_process_is_one_database(tmp_path):
    a = Database(tmp_path / "db")
    b = Database(str(tmp_path / "db"))
    assert a is b and not b.read_only
    col = a.create_collection("c", vectors={"v": VectorField(2)})
    a.close()  # b still holds it
    col.upsert([1], {"v": np.ones(2)})
    assert b.collection("c").count() == 1
    b.close()
    with Database(tmp_path / "db") as c:
        assert c is not a and c.collection("c").count() == 1


def test_read_only_handle_catches_up_with_the_writer_process(tmp_path):
    folder = tmp_path / "db"
    proc = subprocess.Popen([sys.executable, "-m", "tests.db.writer_process", str(folder), "0", "hold"],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def writer(cmd: str) -> None:
        proc.stdin.write(cmd + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "OK"

    try:
        assert proc.stdout.readline().strip() == "READY"
        writer("up 1")
        with Database(folder) as ro:
            assert ro.read_only
            col = ro.collection("c")
            assert col.count() == BATCH and not col.refresh()
            writer("up 2")
            writer("up 3")
            writer("del 1")
            writer("pay 2")
            writer("meta")
            assert col.refresh()
            assert col.count() == 2 * BATCH and col.count({"batch": 1}) == 0
            assert col.get(batch_ids(2)[:1])[0].payload == {"batch": 2, "note": "changed"}
            assert col.metadata == {"model": "new"}
            hits = col.search("v", batch_vectors(3), k=1, with_payload=False)
            assert [h[0].id for h in hits] == batch_ids(3)
            assert not {h.id for r in col.search("v", batch_vectors(1), k=3) for h in r} & set(batch_ids(1))
            writer("up 1")  # re-inserted after its deletion
            assert col.refresh() and col.count() == 3 * BATCH
    finally:
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
