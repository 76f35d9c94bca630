"""On-disk format: versioning, refusal of unusable folders, full disks, index snapshots as derived data."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess

import numpy as np
import pytest

from tests.db.brute import clustered, knn
from xmodal.config import FORMAT_VERSION
from xmodal.db import Database, VectorField
from xmodal.db.storage import DB_FILE
from xmodal.errors import StorageError


def test_newer_format_is_refused_clearly(tmp_path):
    Database(tmp_path / "d").close()
    con = sqlite3.connect(tmp_path / "d" / DB_FILE)
    con.execute("UPDATE meta SET value=? WHERE key='format_version'", (str(FORMAT_VERSION + 1),))
    con.commit()
    con.close()
    with pytest.raises(StorageError, match=f"format {FORMAT_VERSION + 1}, newer"):
        Database(tmp_path / "d")


def test_not_a_database(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / DB_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="d"):
        Database(tmp_path / "d")


def test_unusable_folders(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="not a folder"):
        Database(tmp_path / "file")
    with pytest.raises(StorageError, match="cannot create database folder"):
        Database(tmp_path / "file" / "db")
    with pytest.raises(StorageError, match="cannot create database folder"):
        Database("/proc/xmodal-db-test")  # an unwritable place, even for root
    with pytest.raises(StorageError, match="nothing to open read-only"):
        Database(tmp_path / "absent", mode="r")


def _small_filesystem(tmp_path):
    """A real 3 MiB tmpfs when we may mount one; otherwise SQLite's own page cap (same error path)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
                                            capture_output=True).returncode == 0:
        return mnt, lambda: subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    return mnt, None


def test_disk_full_raises_storage_error_and_keeps_the_database_readable(tmp_path):
    folder, unmount = _small_filesystem(tmp_path)
    try:
        db = Database(folder / "db")
        if unmount is None:
            db._storage.conn.execute("PRAGMA max_page_count=150")
        col = db.create_collection("c", vectors={"v": VectorField(64, "l2", "hnsw")}, payload_schema={"b": "int"})
        rng = np.random.default_rng(0)
        acked = 0
        with pytest.raises(StorageError, match="full"):
            for b in range(1000):
                col.upsert(list(range(acked, acked + 500)), {"v": rng.standard_normal((500, 64))},
                           [{"b": b}] * 500)
                acked += 500
        assert acked > 0 and col.count() == acked  # the failed batch left nothing behind
        assert col.count({"b": acked // 500}) == 0
        hits = col.search("v", rng.standard_normal(64), k=3)
        assert len(hits[0]) == 3 and all(h.id < acked for h in hits[0])
        db.close()  # index snapshots cannot be written either: close still succeeds
        with Database(folder / "db") as again:
            assert again.collection("c").count() == acked
    finally:
        if unmount is not None:
            unmount()


def _ivf(db):
    return db.create_collection("c", vectors={"v": VectorField(8, "l2", "ivf_flat", {"min_train": 300, "nprobe": 64})})


def test_index_snapshot_is_reused_and_caught_up(tmp_path):
    rng = np.random.default_rng(1)
    x = clustered(rng, 1500, 8)
    with Database(tmp_path / "d") as db:
        col = _ivf(db)
        col.upsert(list(range(400)), {"v": x[:400]})
        col.upsert(list(range(400, 900)), {"v": x[400:900]})
        assert col.index_info()["v"]["trained_on"] == 400
    snap = next((tmp_path / "d" / "indexes").iterdir())
    assert sorted(p.name for p in snap.iterdir()) == ["v.faiss", "v.json", "v.slots.npy"]
    saved = tmp_path / "old-snapshot"
    shutil.copytree(snap, saved)
    with Database(tmp_path / "d") as db:
        col = db.collection("c")
        assert col.index_info()["v"]["trained_on"] == 400  # loaded, not retrained
        col.upsert(list(range(900, 1100)), {"v": x[900:1100]})
        col.delete(ids=list(range(0, 100)))
    shutil.rmtree(snap)
    shutil.copytree(saved, snap)  # an out-of-date snapshot: as after a crash before the next one
    with Database(tmp_path / "d") as db:
        col = db.collection("c")
        info = col.index_info()["v"]
        assert info["trained_on"] == 400 and info["vectors"] == 1000
        ids = list(range(100, 1100))
        got = [[h.id for h in r] for r in col.search("v", x[:30], k=5)]
        assert got == knn(x[:30], x[100:1100], ids, 5, "l2")


@pytest.mark.parametrize("damage", ["delete", "garbage", "truncate-slots"])
def test_damaged_snapshot_is_rebuilt(tmp_path, damage):
    rng = np.random.default_rng(2)
    x = clustered(rng, 800, 8)
    with Database(tmp_path / "d") as db:
        _ivf(db).upsert(list(range(800)), {"v": x})
    snap = next((tmp_path / "d" / "indexes").iterdir())
    if damage == "delete":
        shutil.rmtree(snap)
    elif damage == "garbage":
        (snap / "v.faiss").write_bytes(b"\0garbage" * 50)
    else:
        np.save(snap / "v.slots.npy", np.arange(10))
    with Database(tmp_path / "d") as db:
        col = db.collection("c")
        assert col.index_info()["v"]["trained"] and col.index_info()["v"]["vectors"] == 800
        got = [[h.id for h in r] for r in col.search("v", x[:20], k=5)]
        assert got == knn(x[:20], x, list(range(800)), 5, "l2")
