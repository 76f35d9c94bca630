"""Range and threshold search miss nothing on any index kind (issue 16): the IVF kinds visit every
list whose centroid bound can still qualify, the others prove completeness or scan exactly."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xmodal.db.vectors as vectors_module
from tests.db.brute import clustered, scores
from xmodal.db import Database, VectorField
from xmodal.db.indexes import make_index
from xmodal.db.planner import EXACT, INDEX, SUBSET, WithinShape, plan_within

# Index params that make the trained kinds train on a few thousand rows.
PARAMS = {
    "flat": {},
    "hnsw": {"M": 16, "ef_search": 32},
    "ivf_flat": {"min_train": 1000, "nlist": 16, "nprobe": 2},
    "ivf_pq": {"min_train": 1000, "nlist": 8, "nprobe": 1, "m": 8, "nbits": 4},
    "pq": {"min_train": 700, "m": 8, "nbits": 4},
    "opq": {"min_train": 1000, "nlist": 8, "nprobe": 1, "m": 8, "nbits": 4, "opq_niter": 4},
    "sq8": {"min_train": 300},
    "lsh": {"min_train": 300},
    "kdtree": {},
}
IVF = ("ivf_flat", "ivf_pq", "opq")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def data(kind: str, shape: str, rng: np.random.Generator, n: int = 3000) -> np.ndarray:
    dim = 3 if kind == "kdtree" else 16
    x = clustered(rng, n, dim) if shape == "clustered" else rng.standard_normal((n, dim)).astype(np.float32)
    return x


@pytest.fixture
def index_path(monkeypatch):
    """Make the planner take the index whenever it may (IVF lists that can qualify): the bound
    logic is then what answers, not the exact scan the planner would often prefer."""
    taken: list[str] = []

    def forced(shape: WithinShape, costs) -> str:
        taken.append(INDEX if shape.list_sizes is not None else plan_within(shape, costs))
        return taken[-1]

    monkeypatch.setattr(vectors_module, "plan_within", forced)
    monkeypatch.setattr(vectors_module, "worth_probing", lambda shape, costs: True)
    return taken


def brute_sets(q: np.ndarray, x: np.ndarray, metric: str, bound: float, range_: bool) -> tuple[list, np.ndarray]:
    s = scores(q, x, metric)
    if range_:
        d = s if metric == "l2" else 1 - s
        return [set(np.flatnonzero(row <= bound).tolist()) for row in d], d
    return [set(np.flatnonzero(row >= bound).tolist()) for row in s], s


def assert_complete(hits: list, truth: list, value: np.ndarray, bound: float) -> None:
    """Every qualifying row is found and nothing else, up to float rounding right at the bound."""
    for qi, row in enumerate(hits):
        got = {h.id for h in row}
        fuzzy = set(np.flatnonzero(np.abs(value[qi] - bound) < 1e-4).tolist())
        assert not (truth[qi] - got) - fuzzy, f"query {qi}: missed {sorted((truth[qi] - got) - fuzzy)[:5]}"
        assert not (got - truth[qi]) - fuzzy, f"query {qi}: extra {sorted((got - truth[qi]) - fuzzy)[:5]}"


def test_issue_16_repro_ivf_flat_gaussian(tmp_path, index_path):
    """6,000 x 32 random unit vectors, ivf_flat nlist=32: a threshold exactly 300 rows pass.
    Before the fix, threshold_search and range_search found 237 of them."""
    rng = np.random.default_rng(0)
    x = unit(rng.standard_normal((6000, 32)))
    q = unit(rng.standard_normal((1, 32)))
    s = x @ q[0]
    t = float(np.sort(s)[-300])
    assert (s >= t).sum() == 300
    with Database(tmp_path / "db") as db:
        col = db.create_collection("c", vectors={"v": VectorField(32, "cosine", "ivf_flat",
                                                                    {"nlist": 32, "min_train": 2000})})
        col.upsert(list(range(6000)), {"v": x})
        assert col.index_info()["v"]["trained"]
        assert len(col.threshold_search("v", q, min_similarity=t)[0]) == 300
        assert len(col.range_search("v", q, radius=1.0 - t)[0]) == 300
        assert len(col.threshold_search("v", q, min_similarity=t, params={"exact": True})[0]) == 300


def test_issue_16_repro_with_the_planner(tmp_path):
    """The same through whatever path the planner picks, one query and a batch."""
    rng = np.random.default_rng(0)
    x = unit(rng.standard_normal((6000, 32)))
    q = unit(rng.standard_normal((12, 32)))
    s = q @ x.T
    t = float(np.sort(s[0])[-300])
    with Database(tmp_path / "db") as db:
        col = db.create_collection("c", vectors={"v": VectorField(32, "cosine", "ivf_flat",
                                                                    {"nlist": 32, "min_train": 2000})})
        col.upsert(list(range(6000)), {"v": x})
        assert len(col.threshold_search("v", q[:1], min_similarity=t)[0]) == 300
        got = [len(r) for r in col.range_search("v", q, radius=1.0 - t)]
        assert got == (s >= np.float32(t)).sum(axis=1).tolist() or \
            all(abs(g - w) <= 1 for g, w in zip(got, (s >= t).sum(axis=1)))


def metrics_for(kind: str) -> list[str]:
    return ["l2", "cosine"] if kind == "kdtree" else ["l2", "cosine", "ip"]


CASES = [(kind, shape, metric) for kind in PARAMS for shape in ("gaussian", "clustered") for metric in metrics_for(kind)]


@pytest.mark.parametrize("kind, shape, metric", CASES)
def test_range_and_threshold_are_exact_on_every_kind(tmp_path, index_path, kind, shape, metric):
    rng = np.random.default_rng(hash((kind, shape, metric)) % 2**32)
    x = data(kind, shape, rng)
    n = len(x)
    ids = list(range(n))
    with Database(tmp_path / "db") as db:
        col = db.create_collection("c", vectors={"v": VectorField(x.shape[1], metric, kind, PARAMS[kind])},
                                   payload_schema={"third": "bool"})
        for lo in range(0, n, 1000):  # several batches: rows added after training grow the radii
            col.upsert(ids[lo:lo + 1000], {"v": x[lo:lo + 1000]}, [{"third": i % 3 == 0} for i in ids[lo:lo + 1000]])
        assert col.index_info()["v"]["trained"]
        col.delete(ids=ids[::7])  # tombstones
        alive = np.ones(n, bool)
        alive[::7] = False
        q = np.vstack([x[rng.integers(0, n, 9)] + rng.standard_normal((9, x.shape[1])).astype(np.float32) * 0.3,
                       rng.standard_normal((1, x.shape[1])).astype(np.float32)])
        for batch in (q[:1], q):  # one query (FAISS range search) and a batch (the BLAS path)
            s = scores(batch, x, metric)
            s[:, ~alive] = np.nan
            if metric != "ip":
                d = s if metric == "l2" else 1 - s
                radius = float(np.nanquantile(d, 0.02))
                truth, value = brute_sets(batch, x, metric, radius, True)
                truth = [t - set(np.flatnonzero(~alive).tolist()) for t in truth]
                assert_complete(col.range_search("v", batch, radius=radius), truth, value, radius)
                third = np.arange(n) % 3 == 0
                truth_f = [{i for i in t if third[i]} for t in truth]
                assert_complete(col.range_search("v", batch, radius=radius, where={"third": True}), truth_f, value,
                                radius)
            if metric != "l2":
                tau = float(np.nanquantile(s, 0.98))
                truth, value = brute_sets(batch, x, metric, tau, False)
                truth = [t - set(np.flatnonzero(~alive).tolist()) for t in truth]
                assert_complete(col.threshold_search("v", batch, min_similarity=tau), truth, value, tau)
        assert (INDEX in index_path) == (kind in IVF)  # the IVF bounds answered, nothing else claims to


@pytest.mark.parametrize("kind", IVF)
def test_radii_survive_reopen_and_compaction(tmp_path, index_path, kind):
    """Radii are derived data: a reopened snapshot and a rebuilt index recompute them."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3000, 16)).astype(np.float32)
    spec = VectorField(16, "l2", kind, PARAMS[kind])
    with Database(tmp_path / "db") as db:
        col = db.create_collection("c", vectors={"v": spec})
        col.upsert(list(range(3000)), {"v": x})
        col.flush()
    far = rng.standard_normal((5, 16)).astype(np.float32) * 6  # new rows far out: radii must grow
    with Database(tmp_path / "db") as db:
        col = db.collection("c")
        col.upsert(list(range(3000, 3005)), {"v": far})
        allx = np.vstack([x, far])
        q = far + 0.5
        radius = 2.0
        truth, value = brute_sets(q, allx, "l2", radius, True)
        index_path.clear()
        assert_complete(col.range_search("v", q, radius=radius), truth, value, radius)
        assert index_path == [INDEX]  # the reopened index has its radii back
        assert all(3000 + i in {h.id for h in row} for i, row in enumerate(col.range_search("v", q, radius=radius)))
        col.delete(ids=list(range(0, 3000, 2)))
        col.compact()
        keep = np.ones(3005, bool)
        keep[0:3000:2] = False
        truth = [t & set(np.flatnonzero(keep).tolist()) for t in truth]
        assert_complete(col.range_search("v", q, radius=radius), truth, value, radius)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), quantile=st.floats(0.001, 0.2), metric=st.sampled_from(["l2", "cosine", "ip"]),
       spread=st.sampled_from([0.05, 0.5, 3.0]))
def test_ivf_bound_never_prunes_a_qualifying_list(seed, quantile, metric, spread):
    """The probe itself (no database): every row within the bound lies in a list the probe keeps."""
    rng = np.random.default_rng(seed)
    x = (clustered(rng, 1500, 8) * spread).astype(np.float32)
    if metric == "cosine":
        x = unit(x)
    ann = make_index(VectorField(8, metric, "ivf_flat", {"nlist": 12, "min_train": 500}))
    ann.train(x)
    ann.add(x[:700])
    ann.add(x[700:])
    q = (x[rng.integers(0, 1500, 4)] + rng.standard_normal((4, 8)).astype(np.float32) * spread).astype(np.float32)
    if metric == "cosine":
        q = unit(q)
    if metric == "l2":
        d2 = ((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        bound = float(np.quantile(d2, quantile))
        inside = d2 <= bound
    else:
        ip = q @ x.T
        bound = float(np.quantile(ip, 1 - quantile))
        inside = ip >= bound
    keep = ann.probe(q, bound, metric == "l2")
    list_of = np.empty(len(x), np.int64)
    for lst in range(12):
        list_of[ann.list_members(lst)] = lst
    for qi in range(len(q)):
        needed = set(list_of[inside[qi]].tolist())
        assert needed <= set(np.flatnonzero(keep[qi]).tolist())


@pytest.mark.parametrize("path", [EXACT, SUBSET, INDEX])
@pytest.mark.parametrize("nq", [1, 12])
def test_every_planner_path_gives_the_same_filtered_answers(tmp_path, monkeypatch, path, nq):
    """Whatever the planner picks, a filtered range and k-NN search answer the same."""
    monkeypatch.setattr(vectors_module, "plan_within",
                        lambda shape, costs: path if path != INDEX or shape.list_sizes is not None else EXACT)
    monkeypatch.setattr(vectors_module, "plan_knn", lambda shape, costs: path)
    monkeypatch.setattr(vectors_module, "worth_probing", lambda shape, costs: True)
    rng = np.random.default_rng(11)
    x = clustered(rng, 3000, 16)
    with Database(tmp_path / "db") as db:
        col = db.create_collection("c", vectors={"v": VectorField(16, "l2", "ivf_flat", PARAMS["ivf_flat"])},
                                   payload_schema={"third": "bool"})
        col.upsert(list(range(3000)), {"v": x}, [{"third": i % 3 == 0} for i in range(3000)])
        col.delete(ids=list(range(0, 3000, 5)))
        allowed = np.array([i % 3 == 0 and i % 5 != 0 for i in range(3000)])
        q = x[rng.integers(0, 3000, nq)] + 0.2
        d = scores(q, x, "l2")
        radius = float(np.quantile(d, 0.02))
        truth = [set(np.flatnonzero((row <= radius) & allowed).tolist()) for row in d]
        assert_complete(col.range_search("v", q, radius=radius, where={"third": True}), truth, d, radius)
        hits = col.search("v", q, k=5, where={"third": True})
        masked = np.where(allowed[None, :], d, np.inf)
        for qi, row in enumerate(hits):
            assert [h.id for h in row] == np.argsort(masked[qi], kind="stable")[:5].tolist() or path == INDEX
            assert all(allowed[h.id] for h in row) and len(row) == 5
