"""A full disk gives a clear error and a readable database; threads get read-your-writes."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from tests.reliability import faults
from tests.reliability import workload as W


def test_disk_full_clear_error_and_readable(tmp_path: Path) -> None:
    db = tmp_path / "db"
    W.open_collection(str(db))[0].close()  # created without limits
    size_now = sum(p.stat().st_size for p in db.rglob("*") if p.is_file())
    limit = size_now + 400_000  # room for a few batches, then "disk full"
    out = subprocess.run(faults.module_cmd("tests.reliability.disk_full_writer", db, limit, 0),
                         capture_output=True, text=True, env=faults.child_env(), cwd=faults.ROOT, timeout=300)
    lines = out.stdout.splitlines()
    errors = [line for line in lines if line.startswith("ERROR")]
    assert errors, f"no write failed under a {limit}-byte limit: {out.stdout[-500:]} {out.stderr[-2000:]}"
    err = errors[0]
    assert "xmodal.errors.StorageError" in err or "xmodal.errors" in err, f"untyped error on a full disk: {err}"
    log = faults.Log()
    log.read(out.stdout)
    assert log.acked, "nothing was written before the disk filled up"
    summary = faults.check_consistency(db, log, "flat")
    assert summary["lost"] == 0 and not summary["problems"], summary["problems"]
    # And the database takes writes again once space is back.
    _, col = W.open_collection(str(db))
    nb = max(log.acked) + 5
    col.upsert(W.batch_ids(nb), {"v": W.batch_vectors(nb)}, payloads=W.batch_payloads(nb))
    assert len(col.get(W.batch_ids(nb))) == W.BATCH


def test_threads_readers_and_writer_read_your_writes(tmp_path: Path) -> None:
    db, col = W.open_collection(str(tmp_path / "db"))
    stop = time.monotonic() + float(os.environ.get("XMODAL_THREAD_SECONDS", "4"))
    errors: list[str] = []
    written: set[str] = set()
    lock = threading.Lock()

    def writer() -> None:
        b = 0
        while time.monotonic() < stop:
            ids = W.batch_ids(b)
            col.upsert(ids, {"v": W.batch_vectors(b)}, payloads=W.batch_payloads(b))
            with lock:
                written.update(ids)
            # Read-your-writes: the writer sees its batch at once, in get and in search.
            if len(col.get(ids)) != W.BATCH:
                errors.append(f"batch {b} not visible to get right after upsert")
            hit = col.search("v", W.batch_vectors(b)[:1], k=1)[0]
            if not hit or hit[0].id != ids[0]:
                errors.append(f"batch {b} not visible to search right after upsert")
            if b % 4 == 3:
                col.delete(ids=W.batch_ids(b - 1))
                with lock:
                    written.difference_update(W.batch_ids(b - 1))
            b += 1

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while time.monotonic() < stop:
            try:
                q = rng.standard_normal((4, W.DIM)).astype(np.float32)
                for hits in col.search("v", q, k=5):
                    for h in hits:
                        # A hit's payload must belong to its id, whatever the writer is doing.
                        batch = int(h.id[1:].split("-")[0])
                        if h.payload is None or h.payload.get("batch") != batch:
                            errors.append(f"hit {h.id} came back with payload {h.payload}")
                col.count()
            except Exception as exc:  # noqa: BLE001 - any reader failure is a test failure
                errors.append(f"reader: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:10]
    assert col.count() == len(written)
    db.close()
