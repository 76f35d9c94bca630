"""The engine's fast paths (issue 16, per-call overhead and the filter cliff) answer exactly what
the slow ones did: re-ranking in place from the arena, brute force over a filter's rows read by
index, a filtered IVF probe widened to the filter, FAISS called without its Python wrapper,
searches that skip the index lock when nothing is growing, and ``get(with_vectors)`` from the arena."""
from __future__ import annotations

import threading

import faiss
import numpy as np
import pytest

from tests.db.brute import clustered, knn
from xmodal.db import VectorField
from xmodal.db import vectors as vectors_module
from xmodal.db.arena import Arena
from xmodal.db.indexes import faiss_search
from xmodal.db.planner import INDEX, SUBSET

DIM = 16
METRICS = ("l2", "ip", "cosine")


def _fill(db, name, kind, metric, n, seed=0, params=None, pct=False):
    rng = np.random.default_rng(seed)
    x = clustered(rng, n, DIM)
    col = db.create_collection(name, vectors={"v": VectorField(dim=DIM, metric=metric, index=kind,
                                                               params=params or {})},
                               payload_schema={"p": "int"})
    col.upsert(list(range(n)), {"v": x}, payloads=[{"p": i % 1000} for i in range(n)])
    col.wait_for_maintenance()
    return col, x, rng


def _ids(hits):
    return [[h.id for h in row] for row in hits]


def _scores(hits):
    return np.array([[h.score for h in row] for row in hits])


@pytest.mark.parametrize("metric", METRICS)
def test_arena_knn_by_idx_matches_a_gathered_brute_force(tmp_path, metric):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, DIM)).astype(np.float32)
    fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    arena = Arena(DIM, fmetric, tmp_path)
    arena.add(x)
    q = rng.standard_normal((4, DIM)).astype(np.float32)
    shared = np.sort(rng.choice(500, 40, replace=False))
    D, I = arena.knn_by_idx(q, shared, 7)
    Dg, Ig = faiss.knn(q, x[shared], 7, fmetric)
    np.testing.assert_array_equal(I, shared[Ig])
    np.testing.assert_allclose(D, Dg, rtol=1e-5, atol=1e-5)
    # per-query candidates, ended early by -1 (as FAISS pads): fewer than k come back padded
    per = np.stack([rng.choice(500, 6, replace=False) for _ in range(4)]).astype(np.int64)
    per[1, 3:] = -1
    D, I = arena.knn_by_idx(q, per, 5)
    for i in range(4):
        cand = per[i][per[i] >= 0]
        d = ((x[cand] - q[i]) ** 2).sum(1) if metric == "l2" else x[cand] @ q[i]
        best = cand[np.argsort(d if metric == "l2" else -d, kind="stable")][:5]
        got = I[i][I[i] >= 0]
        assert sorted(got.tolist()) == sorted(best.tolist())
    assert (I[1, 3:] == -1).all() and (D[1, 3:] == 0).all()


@pytest.mark.parametrize("metric", METRICS)
def test_rerank_in_place_is_exact_when_every_candidate_is_re_ranked(db, metric):
    """sq8 re-ranks refine_factor x k candidates; asking for all of them must give the exact answer."""
    col, x, rng = _fill(db, "c", "sq8", metric, 300, params={"min_train": 100})
    assert col._fields["v"].ann.is_trained
    q = rng.standard_normal((5, DIM)).astype(np.float32)
    got = col.search("v", q, k=6, params={"refine_factor": 50}, with_payload=False)
    exact = col.search("v", q, k=6, params={"exact": True}, with_payload=False)
    assert _ids(got) == _ids(exact) == knn(q, x, list(range(300)), 6, metric)
    np.testing.assert_allclose(_scores(got), _scores(exact), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("nq", [1, 40])
def test_small_filter_brute_force_matches_exact(db, metric, nq):
    """A few allowed rows go to the subset path (read in place for one query, gathered for a
    batch): the same rows and scores as the exact scan."""
    col, x, rng = _fill(db, "c", "hnsw", metric, 2000)
    where = {"p": {"$lt": 5}}  # 10 rows
    allowed = [i for i in range(2000) if i % 1000 < 5]
    q = rng.standard_normal((nq, DIM)).astype(np.float32)
    fi = col._fields["v"]
    got = col.search("v", q, k=4, where=where, with_payload=False)
    exact = col.search("v", q, k=4, where=where, params={"exact": True}, with_payload=False)
    assert _ids(got) == _ids(exact) == knn(q, x[allowed], allowed, 4, metric)
    np.testing.assert_allclose(_scores(got), _scores(exact), rtol=1e-4, atol=1e-4)
    plans = [p for a in (v[1] for v in col._filter_cache.values()) for p in a.plans.values()]
    assert SUBSET in plans
    assert fi.store.ntotal == 2000


def test_filtered_ivf_widens_nprobe_and_finds_k_rows(db, monkeypatch):
    """0.5 % allowed, nprobe 1 of 32 lists: without widening the probe sees ~0.2 allowed rows."""
    n = 8000
    col, x, rng = _fill(db, "c", "ivf_flat", "l2", n, params={"nlist": 32, "nprobe": 1, "min_train": 2000})
    assert col._fields["v"].ann.is_trained and col._fields["v"].growing == 0
    monkeypatch.setattr(vectors_module, "plan_knn", lambda shape, costs: INDEX)  # force the index path
    where = {"p": {"$lt": 5}}  # 40 rows: 0.5 %
    allowed = [i for i in range(n) if i % 1000 < 5]
    q = x[allowed[:6]] + 0.01
    got = col.search("v", q, k=10, where=where, with_payload=False)
    assert all(len(row) == 10 for row in got)
    assert _ids(got) == knn(q, x[allowed], allowed, 10, "l2")


@pytest.mark.parametrize("kind", ["hnsw", "ivf_flat"])
def test_faiss_search_without_the_wrapper_equals_the_wrapper(db, kind):
    params = {"nlist": 8, "min_train": 500} if kind == "ivf_flat" else {}
    col, x, rng = _fill(db, "c", kind, "l2", 1000, params=params)
    ann = col._fields["v"].ann
    q = rng.standard_normal((3, DIM)).astype(np.float32)
    D, I = faiss_search(ann.index, q, 5)
    Dw, Iw = ann.index.search(q, 5)
    np.testing.assert_array_equal(I, Iw)
    np.testing.assert_array_equal(D, Dw)


def test_search_skips_the_index_lock_when_nothing_grows(db):
    """A fold holds the index's write lock; a search with no growing rows need not wait for it."""
    col, x, rng = _fill(db, "c", "hnsw", "l2", 500)
    fi = col._fields["v"]
    assert fi.growing == 0
    done = threading.Event()
    result: list = []

    def search():
        result.append(col.search("v", x[:2], k=3, with_payload=False))
        done.set()

    with fi.ann_lock.write():
        worker = threading.Thread(target=search, daemon=True)
        worker.start()
        finished = done.wait(timeout=60)
    assert finished, "the search waited for the index lock with nothing growing"
    assert [row[0].id for row in result[0]] == [0, 1]


@pytest.mark.parametrize("metric", METRICS)
def test_get_with_vectors_returns_the_vectors_as_given(db, metric):
    col, x, rng = _fill(db, "c", "hnsw", metric, 300)
    new = rng.standard_normal((2, DIM)).astype(np.float32) * 3
    col.upsert([7, 8], {"v": new})  # replaced rows: the newest vector comes back
    col.delete([9])
    recs = col.get([0, 7, 8, 9, 299, 12345], with_vectors=True)
    assert [r.id for r in recs] == [0, 7, 8, 299]
    want = {0: x[0], 7: new[0], 8: new[1], 299: x[299]}
    for r in recs:
        np.testing.assert_array_equal(r.vectors["v"], want[r.id])
    hits = col.search("v", new[:1], k=1, with_vectors=True)
    np.testing.assert_array_equal(hits[0][0].vectors["v"], want[hits[0][0].id])
