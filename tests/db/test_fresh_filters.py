"""A filter seen once is scanned in place; its rows are gathered into a block only when it comes
again ("cache on reuse", issue 16). Every sighting must answer exactly what brute force and
``exact=True`` answer, also when rows are upserted, deleted or re-labelled between sightings
(the cached filter is then stale and must not be used)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.db.brute import clustered, knn
from xmodal.db import VectorField
from xmodal.db.collection import HashedKey

DIM = 16
N = 3000


def _collection(db, kind, metric):
    rng = np.random.default_rng(7)
    x = clustered(rng, N, DIM)
    col = db.create_collection("c", vectors={"v": VectorField(dim=DIM, metric=metric, index=kind)},
                               payload_schema={"p": "int"})
    col.upsert(list(range(N)), {"v": x}, payloads=[{"p": i % 100} for i in range(N)])
    col.wait_for_maintenance()
    return col, {i: x[i] for i in range(N)}, {i: i % 100 for i in range(N)}, rng


def _truth(q, rows, labels, lo, hi, k, metric):
    ids = sorted(i for i in rows if lo <= labels[i] < hi)
    return knn(q, np.stack([rows[i] for i in ids]), ids, k, metric)


def _search(col, q, lo, hi, **kw):
    hits = col.search("v", q, k=5, where={"p": {"$gte": lo, "$lt": hi}}, with_payload=False, **kw)
    return [[h.id for h in row] for row in hits]


def _cached(col, lo, hi):
    """The cached Allowed of the filter ``lo <= p < hi`` (its current entry)."""
    _, key = col._parse_filter({"p": {"$gte": lo, "$lt": hi}})
    return col._filter_cache[("v", key)][1]


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf_flat"])
@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_first_sighting_in_place_second_gathered_both_exact(db, kind, metric):
    col, rows, labels, rng = _collection(db, kind, metric)
    q = rng.standard_normal((1, DIM)).astype(np.float32)
    truth = _truth(q, rows, labels, 3, 5, 5, metric)  # 60 of 3,000 rows: the subset scan
    assert _search(col, q, 3, 5) == truth
    assert len(col._filter_cache) == 1
    first = _cached(col, 3, 5)
    assert not first.gathered  # scanned in place, nothing copied
    assert _search(col, q, 3, 5) == truth
    assert first.gathered  # the same filter again: its block is gathered and kept
    assert _search(col, q, 3, 5) == truth
    assert _search(col, q, 3, 5, params={"exact": True}) == truth


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
@pytest.mark.parametrize("change", ["upsert", "delete", "relabel_in", "relabel_out", "new_vector"])
def test_a_write_between_sightings_is_seen(db, kind, change):
    col, rows, labels, rng = _collection(db, kind, "l2")
    q = rng.standard_normal((2, DIM)).astype(np.float32)
    lo, hi = 10, 12
    assert _search(col, q[:1], lo, hi) == _truth(q[:1], rows, labels, lo, hi, 5, "l2")
    assert _search(col, q[:1], lo, hi) == _truth(q[:1], rows, labels, lo, hi, 5, "l2")  # gathered now
    inside = [i for i in rows if lo <= labels[i] < hi]
    nearest = _truth(q[:1], rows, labels, lo, hi, 5, "l2")[0]
    if change == "upsert":  # new rows inside the filter, right on the query
        new = list(range(N, N + 3))
        col.upsert(new, {"v": np.repeat(q[:1], 3, axis=0) + 0.01 * np.arange(3)[:, None]},
                   payloads=[{"p": lo}] * 3)
        for j, i in enumerate(new):
            rows[i], labels[i] = q[0] + 0.01 * j, lo
    elif change == "delete":
        col.delete(nearest[:2])
        for i in nearest[:2]:
            del rows[i]
    elif change == "relabel_in":  # an outside row next to the query moves into the filter
        outside = min((i for i in rows if not lo <= labels[i] < hi),
                      key=lambda i: float(((rows[i] - q[0]) ** 2).sum()))
        col.update_payload([outside], {"p": lo})
        labels[outside] = lo
    elif change == "relabel_out":
        col.update_payload([nearest[0]], {"p": hi + 1})
        labels[nearest[0]] = hi + 1
    else:  # the best allowed row gets a vector far away
        far = np.full(DIM, 50.0, np.float32)
        col.upsert([nearest[0]], {"v": far[None]}, payloads=[{"p": lo}])
        rows[nearest[0]] = far
    assert inside  # the filter allowed rows before the change
    truth = _truth(q[:1], rows, labels, lo, hi, 5, "l2")
    assert _search(col, q[:1], lo, hi) == truth  # first sighting of the new data: in place
    assert not _cached(col, lo, hi).gathered
    assert _search(col, q[:1], lo, hi) == truth  # second: gathered from the new data
    assert _cached(col, lo, hi).gathered
    assert _search(col, q[:1], lo, hi) == truth  # third: the kept block
    assert _search(col, q, lo, hi, params={"exact": True}) == _truth(q, rows, labels, lo, hi, 5, "l2")


def test_fresh_filters_beyond_the_cache_are_exact_and_never_gathered(db):
    col, rows, labels, rng = _collection(db, "hnsw", "cosine")
    q = rng.standard_normal((1, DIM)).astype(np.float32)
    windows = [(j, j + 2) for j in range(0, 40, 3)]  # 14 filters, more than the cache holds
    for lo, hi in windows:
        assert _search(col, q, lo, hi) == _truth(q, rows, labels, lo, hi, 5, "cosine")
        assert not _cached(col, lo, hi).gathered
    for lo, hi in windows[-3:]:  # still cached: their second sighting gathers them
        assert _search(col, q, lo, hi) == _truth(q, rows, labels, lo, hi, 5, "cosine")
        assert _cached(col, lo, hi).gathered


def test_a_hashed_key_hashes_once_and_compares_by_value():
    calls = []

    class Counted(tuple):
        def __hash__(self):
            calls.append(1)
            return tuple.__hash__(self)

    a, b = HashedKey(Counted((1, "x"))), HashedKey(Counted((1, "x")))
    assert len(calls) == 2
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert len(calls) == 2  # dict lookups use the stored hash
    assert HashedKey((int, 1)) != HashedKey((float, 1.0)) or hash((int, 1)) != hash((float, 1.0))
    with pytest.raises(TypeError):
        HashedKey(({"a": 1},))
