"""Range and threshold search: exact on flat, and every other kind checked against brute force."""
from __future__ import annotations

import numpy as np
import pytest

from tests.db.brute import clustered, scores
from tests.db.test_indexes import CASES
from xmodal.db import VectorField


def truth_sets(s: np.ndarray, ids: list, inside: np.ndarray) -> list[set]:
    return [{ids[j] for j in np.flatnonzero(row)} for row in inside]


def near_boundary(s: np.ndarray, bound: float) -> np.ndarray:
    return np.abs(s - bound) < 1e-4


def build(db, kind, metric, n=2000, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    x = clustered(rng, n, dim)
    if kind == "kdtree":
        dim = 3
        x = clustered(rng, n, dim)
    col = db.create_collection(f"{kind}_{metric}", vectors={"v": VectorField(dim, metric, kind, CASES[kind][0])},
                               payload_schema={"half": "bool"})
    ids = list(range(n))
    col.upsert(ids, {"v": x}, [{"half": i % 2 == 0} for i in ids])
    q = x[rng.integers(0, n, 20)] + rng.standard_normal((20, dim)).astype(np.float32) * 0.3
    return col, x, ids, q


def check(col, field_hits, truth, s, bound, exact):
    found = 0
    total = 0
    for qi, hits in enumerate(field_hits):
        got = {h.id for h in hits}
        fuzzy = {j for j in np.flatnonzero(near_boundary(s[qi], bound))}
        assert got - truth[qi] <= fuzzy, "a result outside the range"  # never a false positive
        if exact:
            assert truth[qi] - got <= fuzzy
        found += len(truth[qi] & got)
        total += len(truth[qi])
        sc = [h.score for h in hits]
        assert sc == sorted(sc, reverse=col.vector_fields["v"].metric != "l2")
    return found / max(total, 1)


KINDS = sorted(CASES)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_range_search(db, kind, metric):
    col, x, ids, q = build(db, kind, metric)
    s = scores(q, x, metric)
    dist = s if metric == "l2" else 1 - s
    radius = float(np.quantile(dist, 0.03))  # ~60 results per query
    hits = col.range_search("v", q, radius=radius)
    rec = check(col, hits, truth_sets(dist, ids, dist <= radius), dist, radius, exact=kind in ("flat", "kdtree"))
    assert rec >= 0.97
    for qi, row in enumerate(hits):
        for h in row:
            assert h.score == pytest.approx(s[qi, h.id], rel=1e-4, abs=1e-4)
    # with a filter: only even ids, and still complete
    hits = col.range_search("v", q, radius=radius, where={"half": True})
    inside = (dist <= radius) & (np.arange(len(ids)) % 2 == 0)[None, :]
    assert all(h.id % 2 == 0 for row in hits for h in row)
    assert check(col, hits, truth_sets(dist, ids, inside), dist, radius, exact=True) == 1.0  # small subset: exact


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf_pq", "lsh"])
@pytest.mark.parametrize("metric", ["cosine", "ip"])
def test_threshold_search(db, kind, metric):
    col, x, ids, q = build(db, kind, metric)
    s = scores(q, x, metric)
    tau = float(np.quantile(s, 0.98))
    hits = col.threshold_search("v", q, min_similarity=tau)
    rec = check(col, hits, truth_sets(s, ids, s >= tau), s, tau, exact=kind == "flat")
    assert rec >= 0.97
    assert all(h.score >= tau - 1e-5 for row in hits for h in row)


def test_range_after_deletes_never_returns_deleted(db):
    col, x, ids, q = build(db, "hnsw", "l2")
    col.delete(ids=ids[::10])
    s = scores(q, x, "l2")
    radius = float(np.quantile(s, 0.05))
    got = {h.id for row in col.range_search("v", q, radius=radius) for h in row}
    assert got and not got & set(ids[::10])


def test_large_radius_returns_everything(db):
    col, x, ids, q = build(db, "hnsw", "cosine", n=500)
    hits = col.range_search("v", q[:2], radius=2.0)
    assert [len(r) for r in hits] == [500, 500]
