"""Index rebuilds (training, retraining, compaction) of big fields run in the background while
reads and writes go on; the swapped-in index catches up with what changed meanwhile."""
from __future__ import annotations

import numpy as np
import pytest

from tests.db.brute import clustered, knn, recall
from xmodal.config import Config, DBConfig
from xmodal.db import Database, VectorField
from xmodal.db.indexes import SearchKnobs
from xmodal.db.vectors import FieldIndex


# Every field rebuilds in the background, however small: the database's own settings say so.
BACKGROUND_ALWAYS = Config(db=DBConfig(background_rebuild_rows=1))


@pytest.fixture
def bg_db(tmp_path):
    with Database(tmp_path / "bg", settings=BACKGROUND_ALWAYS) as database:
        yield database


def live_truth(x_by_id: dict, q: np.ndarray, k: int, metric: str) -> list[list]:
    ids = sorted(x_by_id, key=str)
    return knn(q, np.stack([x_by_id[i] for i in ids]), ids, k, metric)


@pytest.mark.parametrize("kind, params", [("hnsw", {"M": 8}), ("ivf_flat", {"min_train": 300, "nprobe": 64})])
def test_background_rebuild_with_concurrent_writes(bg_db, kind, params):
    db = bg_db
    rng = np.random.default_rng(0)
    x = clustered(rng, 3000, 8)
    col = db.create_collection("c", vectors={"v": VectorField(8, "l2", kind, params)})
    col.upsert(list(range(1500)), {"v": x[:1500]})
    col.wait_for_maintenance()
    live = {i: x[i] for i in range(1500)}
    col.delete(ids=list(range(0, 1500, 2)))  # 50% tombstones: a background compaction starts
    for i in range(0, 1500, 2):
        del live[i]
    for lo in range(1500, 3000, 250):  # writes and deletes while it runs
        col.upsert(list(range(lo, lo + 250)), {"v": x[lo:lo + 250]})
        live.update({i: x[i] for i in range(lo, lo + 250)})
        col.delete(ids=[lo + 1, 1])
        live.pop(lo + 1, None)
        live.pop(1, None)
        got = [[h.id for h in r] for r in col.search("v", x[:5], k=5)]
        assert not {i for r in got for i in r} - set(live)  # never a deleted id, even mid-rebuild
    assert col.wait_for_maintenance(timeout=120)
    info = col.index_info()["v"]
    assert info["vectors"] == len(live) and info["tombstones"] < 0.2 * (info["vectors"] + info["tombstones"]) + 20
    q = x[rng.integers(0, 3000, 30)] + 0.1
    got = [[h.id for h in r] for r in col.search("v", q, k=10)]
    assert recall(got, live_truth(live, q, 10, "l2")) >= 0.95
    assert col.count() == len(live)


def test_install_catches_up_with_changes_made_during_the_build():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((700, 8)).astype(np.float32)
    field = FieldIndex("v", VectorField(8, "cosine", "ivf_flat", {"min_train": 200, "nprobe": 16}))
    field.add(np.arange(500), field.prepare(x[:500]))
    field.rebuild(retrain=True)
    field.remove(np.arange(0, 100))
    plan = field.plan_rebuild(retrain=False)
    built = field.build(plan)  # ...meanwhile:
    field.add(np.arange(500, 700), field.prepare(x[500:]))
    field.remove(np.array([150, 160, 650]))
    field.install(plan, *built)
    live = [i for i in range(100, 700) if i not in (150, 160, 650)]
    assert field.live == len(live) and field.n_dead == 2  # 150 and 160 became tombstones of the new index
    D, I = field.knn(field.prepare(x[live[:20]]), 1, None, SearchKnobs())
    assert list(field.slot_rids[I[:, 0]]) == live[:20]
    _, I = field.knn(field.prepare(x[[150, 160, 650]]), 3, None, SearchKnobs())
    assert not {150, 160, 650} & set(field.slot_rids[I.ravel()].tolist())


def test_untrained_field_trains_in_the_background(bg_db):
    db = bg_db
    rng = np.random.default_rng(2)
    x = clustered(rng, 900, 8)
    col = db.create_collection("c", vectors={"v": VectorField(8, "l2", "ivf_pq", {"min_train": 600, "nlist": 4,
                                                                                 "m": 4, "nbits": 4})})
    col.upsert(list(range(900)), {"v": x})
    got_during = [[h.id for h in r] for r in col.search("v", x[:10], k=3)]  # exact or trained: both fine
    assert all(r[0] == i for i, r in enumerate(got_during))
    assert col.wait_for_maintenance(timeout=120)
    assert col.index_info()["v"]["trained"]
    assert recall([[h.id for h in r] for r in col.search("v", x[:30], k=5)],
                  knn(x[:30], x, list(range(900)), 5, "l2")) >= 0.85


def test_big_field_without_snapshot_opens_at_once_and_builds_behind(tmp_path):
    rng = np.random.default_rng(3)
    x = clustered(rng, 1200, 8)
    with Database(tmp_path / "d", settings=BACKGROUND_ALWAYS) as db:
        db.create_collection("c", vectors={"v": VectorField(8, "l2", "hnsw", {"M": 8})}).upsert(
            list(range(1200)), {"v": x})
    import shutil

    shutil.rmtree(tmp_path / "d" / "indexes")  # as after a crash before the first snapshot
    with Database(tmp_path / "d", settings=BACKGROUND_ALWAYS) as db:
        col = db.collection("c")
        truth = knn(x[:20], x, list(range(1200)), 5, "l2")
        assert [[h.id for h in r] for r in col.search("v", x[:20], k=5)] == truth  # exact (or built): right
        col.upsert([5000], {"v": x[0] + 0.001})  # writes go on meanwhile
        assert col.wait_for_maintenance(timeout=120)
        assert not col.index_info()["v"]["building"] and col.index_info()["v"]["vectors"] == 1201
        got = [[h.id for h in r] for r in col.search("v", x[:20], k=5)]
        assert recall(got, knn(x[:20], np.vstack([x, x[:1] + 0.001]), list(range(1200)) + [5000], 5, "l2")) >= 0.95
    assert sorted(p.name for p in next((tmp_path / "d" / "indexes").iterdir()).iterdir()) == \
        ["v.faiss", "v.json", "v.slots.npy"]
