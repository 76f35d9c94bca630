"""Congruence: the same scenarios on the embedded engine, Milvus Lite and a Milvus standalone server
give the same answers.

Exact (flat) searches must agree exactly (same ids in the same order, scores to float32 precision);
approximate indexes must reach a recall tolerance against the exact answer on both backends;
filters must select exactly what the reference evaluator of the filter language selects.
"""
from __future__ import annotations


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.milvus.conftest import BACKENDS, clustered, on_all
from xmodal.config import Config, MilvusConfig
from xmodal.db import connect
from xmodal.db.api import VectorField
from xmodal.db.filters import evaluate, parse_filter
from xmodal.db.backends.milvus import IndexMappingWarning, MilvusDatabase, field_search_defaults, search_params
from xmodal.errors import InvalidInput, NotFound, UnsupportedByBackend

SCHEMA = {"kind": "str", "year": "int", "score": "float", "tags": "list[str]", "ok": "bool", "note": "json"}
KINDS = ("image", "text", "audio")
TAGS = ("cat", "dog", "sky", "sea")
SCORE_TOL = 1e-4


def make_rows(n: int, seed: int):
    rng = np.random.default_rng(seed)
    ids = [i if i % 3 else f"doc-{i}" for i in range(n)]
    payloads = []
    for i in range(n):
        p = {"kind": KINDS[i % 3], "score": float(rng.random()), "extra": {"i": i}}
        if i % 5:
            p["year"] = int(2000 + rng.integers(0, 25))
        if i % 4:
            p["tags"] = sorted({TAGS[j] for j in rng.integers(0, 4, rng.integers(0, 3))})
        if i % 7:
            p["ok"] = bool(i % 2)
        if i % 6 == 0:
            p["note"] = {"n": i}
        payloads.append(p)
    return ids, payloads


def exact_scores(metric: str, data: np.ndarray, q: np.ndarray) -> np.ndarray:
    if metric == "l2":
        return np.linalg.norm(data[None, :, :] - q[:, None, :], axis=2)
    if metric == "cosine":
        dn = data / np.linalg.norm(data, axis=1, keepdims=True)
        return (q / np.linalg.norm(q, axis=1, keepdims=True)) @ dn.T
    return q @ data.T


def assert_same_hits(results: dict, k: int | None = None) -> None:
    """Every backend returns the same ids in the same order, with scores equal to float precision."""
    (a_name, a), *others = results.items()
    for b_name, b in others:
        assert len(a) == len(b), (a_name, b_name)
        for qa, qb in zip(a, b):
            assert [h.id for h in qa] == [h.id for h in qb], (a_name, b_name)
            np.testing.assert_allclose([h.score for h in qa], [h.score for h in qb], atol=SCORE_TOL, rtol=1e-4)
            if k is not None:
                assert len(qa) == len(qb) == k


@pytest.fixture(scope="module")
def loaded(backends):
    """One collection with three flat fields (one per metric), some rows lacking some fields."""
    n, dim = 240, 16
    ids, payloads = make_rows(n, seed=1)
    data = {m: clustered(n, dim, seed=i) for i, m in enumerate(("l2", "cosine", "ip"))}
    name, cols = backends.create({m: VectorField(dim=dim, metric=m, index="flat") for m in data}, SCHEMA,
                                 metadata={"model": "test", "nested": {"a": [1, 2]}})
    # Rows 0..199 get every field; 200..239 only the l2 field.
    for c in cols.values():
        c.upsert(ids[:200], {m: v[:200] for m, v in data.items()}, payloads[:200])
        c.upsert(ids[200:], {"l2": data["l2"][200:]}, payloads[200:])
    return name, ids, payloads, data


def test_counts_get_and_scroll_agree(backends, loaded):
    name, ids, payloads, data = loaded
    cols = backends.collections(name)
    assert on_all(cols, lambda c: c.count()) == {k: len(ids) for k in cols}
    wanted = [ids[5], "missing", ids[210], ids[3]]
    got = on_all(cols, lambda c: c.get(wanted, with_vectors=True))
    for recs in got.values():
        assert [r.id for r in recs] == [ids[5], ids[210], ids[3]]
        assert recs[0].payload == payloads[5]
        assert set(recs[0].vectors) == {"l2", "cosine", "ip"}
        assert set(recs[1].vectors) == {"l2"}  # a row lacking a field really lacks it
        np.testing.assert_allclose(recs[1].vectors["l2"], data["l2"][210], rtol=1e-6)
    scrolled = on_all(cols, lambda c: sorted(map(str, (r.id for r in c.scroll(batch_size=37)))))
    assert all(s == sorted(map(str, ids)) for s in scrolled.values()), scrolled


@pytest.mark.parametrize("metric", ["l2", "cosine", "ip"])
def test_exact_knn_agrees_with_numpy(backends, loaded, metric):
    name, ids, payloads, data = loaded
    cols = backends.collections(name)
    q = clustered(5, 16, seed=99)
    res = on_all(cols, lambda c: c.search(metric, q, k=10))
    assert_same_hits(res, k=10)
    held = len(ids) if metric == "l2" else 200  # rows 200.. hold only the l2 field
    truth = exact_scores(metric, data[metric][:held], q)
    order = np.argsort(truth, axis=1) if metric == "l2" else np.argsort(-truth, axis=1)
    for qi, hits in enumerate(res["milvus-lite"]):
        assert [h.id for h in hits] == [ids[j] for j in order[qi, :10]]
        np.testing.assert_allclose([h.score for h in hits], truth[qi, order[qi, :10]], atol=SCORE_TOL, rtol=1e-4)


def test_field_missing_from_rows_is_never_returned(backends, loaded):
    name, ids, _, data = loaded
    cols = backends.collections(name)
    q = data["l2"][220:221]  # a vector of a row that only has the l2 field
    res = on_all(cols, lambda c: c.search("cosine", q, k=240))
    assert_same_hits(res)
    for hits in res.values():
        assert len(hits[0]) == 200 and not {h.id for h in hits[0]} & set(ids[200:])


def test_search_can_return_vectors_and_skip_payloads(backends, loaded):
    name, ids, _, data = loaded
    cols = backends.collections(name)
    res = on_all(cols, lambda c: c.search("ip", data["ip"][:2], k=3, with_payload=False, with_vectors=True))
    assert_same_hits(res, k=3)
    for hits in res.values():
        for h in hits[0]:
            assert h.payload is None and set(h.vectors) == {"l2", "cosine", "ip"}
            np.testing.assert_allclose(h.vectors["ip"], data["ip"][ids.index(h.id)], rtol=1e-6)


@pytest.mark.parametrize("where", [
    {"kind": "image"},
    {"year": {"$gte": 2010, "$lt": 2020}},
    {"tags": {"$in": ["cat", "sea"]}},
    {"$or": [{"kind": "audio"}, {"ok": True}]},
    {"year": {"$ne": 2012}},
    {"$not": {"tags": "dog"}},
    {"note": {"$exists": True}},
])
def test_filtered_exact_search_agrees(backends, loaded, where):
    name, ids, payloads, data = loaded
    cols = backends.collections(name)
    q = clustered(3, 16, seed=7)
    res = on_all(cols, lambda c: c.search("cosine", q, k=15, where=where))
    assert_same_hits(res)
    node = parse_filter(where, SCHEMA)
    allowed = [j for j in range(200) if evaluate(node, payloads[j], SCHEMA)]
    truth = exact_scores("cosine", data["cosine"][allowed], q)
    for qi, hits in enumerate(res["milvus-lite"]):
        top = np.argsort(-truth[qi])[:15]
        assert [h.id for h in hits] == [ids[allowed[j]] for j in top]
        assert all(evaluate(node, h.payload, SCHEMA) for h in hits)


@pytest.mark.parametrize("metric,radius", [("l2", 4.5), ("cosine", 0.35)])
def test_range_search_returns_the_same_set(backends, loaded, metric, radius):
    name, ids, _, data = loaded
    cols = backends.collections(name)
    q = data[metric][[0, 50, 120]] + 0.01
    res = on_all(cols, lambda c: c.range_search(metric, q, radius=radius, where={"kind": {"$ne": "text"}}))
    assert_same_hits(res)
    held = len(ids) if metric == "l2" else 200
    truth = exact_scores(metric, data[metric][:held], q)
    dist = truth if metric == "l2" else 1 - truth
    for qi, hits in enumerate(res["milvus-lite"]):
        expect = {ids[j] for j in range(held) if dist[qi, j] <= radius and j % 3 != 1}
        assert {h.id for h in hits} == expect and expect
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=metric != "l2")


@pytest.mark.parametrize("metric,t", [("cosine", 0.6), ("ip", 20.0)])
def test_threshold_search_returns_the_same_set(backends, loaded, metric, t):
    name, ids, _, data = loaded
    cols = backends.collections(name)
    q = data[metric][[3, 77]]
    res = on_all(cols, lambda c: c.threshold_search(metric, q, min_similarity=t))
    assert_same_hits(res)
    truth = exact_scores(metric, data[metric][:200], q)
    for qi, hits in enumerate(res["milvus-lite"]):
        assert {h.id for h in hits} == {ids[j] for j in range(200) if truth[qi, j] >= t}
        assert all(h.score >= t - SCORE_TOL for h in hits)


def test_upsert_replaces_delete_and_payload_update_agree(backends):
    data = clustered(60, 8, seed=3)
    name, cols = backends.create({"v": VectorField(8, "cosine"), "w": VectorField(8, "l2")}, SCHEMA)
    ids, payloads = make_rows(60, seed=4)
    for c in cols.values():
        c.upsert(ids, {"v": data, "w": data[::-1]}, payloads)
        c.upsert(ids[:5], {"w": data[:5] * 2}, [{"kind": "video"}] * 5)  # replaces: the rows lose "v"
    got = on_all(cols, lambda c: c.get(ids[:6], with_vectors=True))
    for recs in got.values():
        assert [sorted(r.vectors) for r in recs] == [["w"]] * 5 + [["v", "w"]]
        assert recs[0].payload == {"kind": "video"}
    assert on_all(cols, lambda c: c.update_payload([ids[7], "nope", ids[8]], {"kind": "image", "new": 1})) \
        == {k: 2 for k in cols}
    for recs in on_all(cols, lambda c: c.get([ids[7], ids[8]], with_vectors=True)).values():
        assert all(r.payload["kind"] == "image" and r.payload["new"] == 1 for r in recs)
        assert sorted(recs[0].vectors) == ["v", "w"]
    assert on_all(cols, lambda c: c.count({"kind": "image"})) == {k: sum(
        1 for i, p in enumerate(payloads) if i >= 5 and (p["kind"] == "image" or i in (7, 8))) for k in cols}
    assert on_all(cols, lambda c: c.delete(ids=[ids[10], "nope", ids[11]])) == {k: 2 for k in cols}
    n_audio = on_all(cols, lambda c: c.count({"kind": "audio"}))
    assert on_all(cols, lambda c: c.delete(where={"kind": "audio"})) == n_audio
    assert len(set(on_all(cols, lambda c: c.count()).values())) == 1
    assert_same_hits(on_all(cols, lambda c: c.search("v", data[20:23], k=8)), k=8)


def test_bad_input_is_refused_whole_and_changes_nothing(backends):
    name, cols = backends.create({"v": VectorField(4, "cosine")}, {"year": "int"})
    for c in cols.values():
        c.upsert([1, 2], {"v": np.eye(4)[:2]}, [{"year": 1}, {"year": 2}])
    bad_calls = [
        lambda c: c.upsert([3, 4], {"v": np.ones((2, 5))}),                       # wrong dim
        lambda c: c.upsert([3, 4], {"v": np.array([[1, 0, 0, 0], [np.nan, 0, 0, 0]])}),  # NaN
        lambda c: c.upsert([3, 1], {"v": np.ones((2, 4))}, [{"year": 3}, {"year": "x"}]),  # wrong type
        lambda c: c.upsert([3, 3], {"v": np.ones((2, 4))}),                       # duplicate id
        lambda c: c.upsert([3], {"v": np.zeros((1, 4))}),                         # no cosine direction
        lambda c: c.search("v", np.ones((1, 4)), k=0),
        lambda c: c.search("v", np.ones((1, 4)), where={"nope": 1}),
        lambda c: c.search("v", np.ones((1, 4)), where={"year": {"$gt": "x"}}),
        lambda c: c.delete(where={"year": {"$bad": 1}}),
    ]
    for call in bad_calls:
        for k, c in cols.items():
            with pytest.raises(InvalidInput):
                call(c)
    for k, c in cols.items():
        with pytest.raises(InvalidInput, match="nope"):
            c.search("nope", np.ones((1, 4)))
        assert c.count() == 2 and c.get([1])[0].payload == {"year": 1}
    for db in backends.dbs.values():
        with pytest.raises(NotFound, match="absent"):
            db.collection("absent")


def test_metadata_schema_and_data_survive_reopen(backends, loaded):
    name, ids, _, data = loaded
    q = data["l2"][:2]
    before = on_all(backends.collections(name), lambda c: c.search("l2", q, k=5))
    for c in backends.collections(name).values():
        c.set_metadata({"model": "test", "v": 2})
    backends.reopen()
    cols = backends.collections(name)
    for c in cols.values():
        assert c.metadata == {"model": "test", "v": 2}
        assert c.payload_schema == SCHEMA
        assert {f: (v.dim, v.metric, v.index) for f, v in c.vector_fields.items()} == \
            {m: (16, m, "flat") for m in ("l2", "cosine", "ip")}
        assert c.count() == len(ids)
    after = on_all(cols, lambda c: c.search("l2", q, k=5))
    assert_same_hits(after, k=5)
    for backend, db in backends.dbs.items():
        assert [h.id for h in after[backend][0]] == [h.id for h in before[backend][0]]
        assert name in db.list_collections()


@pytest.mark.parametrize("index,params", [("hnsw", {"M": 16, "ef_construction": 64}), ("ivf_flat", {"nlist": 32})])
def test_approximate_indexes_reach_recall_on_both(backends, index, params):
    n, dim, k = 3000, 32, 10
    data = clustered(n, dim, seed=11, clusters=16)
    name, cols = backends.create({"v": VectorField(dim, "l2", index=index, params=params)})
    for c in cols.values():
        c.upsert(list(range(n)), {"v": data})
    q = clustered(20, dim, seed=12, clusters=16)
    truth = np.argsort(exact_scores("l2", data, q), axis=1)[:, :k]
    search_params = {"ef": 128} if index == "hnsw" else {"nprobe": 8}
    for backend, res in on_all(cols, lambda c: c.search("v", q, k=k, params=search_params)).items():
        recall = np.mean([len({h.id for h in hits} & set(truth[i])) / k for i, hits in enumerate(res)])
        assert recall >= 0.9, (backend, recall)


def test_milvus_reports_what_it_cannot_do(tmp_path):
    db = MilvusDatabase(f"milvus-lite:{tmp_path / 'u.db'}")
    try:
        with pytest.raises(UnsupportedByBackend, match="lsh"):
            db.create_collection("l", {"v": VectorField(8, "l2", index="lsh")})
        assert "l" not in db.list_collections()
        with pytest.warns(IndexMappingWarning, match="IVF_SQ8"):
            pq = db.create_collection("pq", {"v": VectorField(16, "l2", index="ivf_pq")})
        assert pq.vector_fields["v"].index == "ivf_pq"  # the user's choice is what the schema says
        c = db.create_collection("c", {"v": VectorField(4, "l2", index="hnsw")}, {"note": "json"})
        c.upsert([1], {"v": np.ones((1, 4))}, [{"note": {"a": 1}}])
        with pytest.raises(UnsupportedByBackend, match="note"):
            c.count({"note": {"a": 1}})
        with pytest.raises(UnsupportedByBackend, match="top-k"):
            c.search("v", np.ones((1, 4)), k=100_000)
        with pytest.raises(InvalidInput, match="l2"):
            c.threshold_search("v", np.ones((1, 4)), min_similarity=0.5)
        assert c.count({"note": {"$exists": True}}) == 1
    finally:
        db.close()


def test_strings_with_quotes_cannot_break_out_of_the_expression(backends):
    nasty = ['a"b', "a\\b", "' or 1==1 or '", '" or pk != "', "é 中文", "new\nline", "x"]
    name, cols = backends.create({"v": VectorField(2, "l2")}, {"s": "str"})
    for c in cols.values():
        c.upsert(nasty, {"v": np.ones((len(nasty), 2))}, [{"s": s} for s in nasty])
    for s in nasty:
        for k, c in cols.items():
            assert [r.id for r in c.scroll({"s": s})] == [s], (k, s)
        assert on_all(cols, lambda c: c.count({"s": {"$in": [s, "zzz"]}})) == {k: 1 for k in cols}


scalar = st.sampled_from
leaf = st.one_of(
    st.builds(lambda v: {"kind": v}, scalar(KINDS + ("video",))),
    st.builds(lambda op, v: {"year": {op: v}}, scalar(["$gt", "$gte", "$lt", "$lte", "$eq", "$ne"]),
              st.integers(1998, 2026)),
    st.builds(lambda op, v: {"score": {op: v}}, scalar(["$gt", "$lt"]), st.floats(0, 1)),
    st.builds(lambda op, v: {"tags": {op: v}}, scalar(["$in", "$nin"]), st.lists(scalar(TAGS), max_size=3)),
    st.builds(lambda v: {"tags": v}, scalar(TAGS)),
    st.builds(lambda op, v: {"ok": {op: v}}, scalar(["$eq", "$ne"]), st.booleans()),
    st.builds(lambda f, v: {f: {"$exists": v}}, scalar(list(SCHEMA)), st.booleans()),
    st.builds(lambda op, v: {"year": {op: v}}, scalar(["$in", "$nin"]), st.lists(st.integers(2000, 2024), max_size=4)),
)
filters = st.recursive(leaf, lambda sub: st.one_of(
    st.builds(lambda xs: {"$and": xs}, st.lists(sub, min_size=1, max_size=3)),
    st.builds(lambda xs: {"$or": xs}, st.lists(sub, min_size=1, max_size=3)),
    st.builds(lambda x: {"$not": x}, sub),
), max_leaves=6)


def test_random_filters_select_what_the_reference_evaluator_selects(backends, loaded):
    name, ids, payloads, _ = loaded
    cols = backends.collections(name)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(where=filters)
    def check(where):
        node = parse_filter(where, SCHEMA)
        expect = sorted(str(ids[j]) for j, p in enumerate(payloads) if evaluate(node, p, SCHEMA))
        for k, c in cols.items():
            got = sorted(str(r.id) for r in c.scroll(where, batch_size=500))
            assert got == expect, (k, where)

    check()


@pytest.mark.parametrize("metric,radius", [("l2", 6.0), ("cosine", 0.6)])
def test_range_search_pages_past_the_top_k_cap_with_ties(tmp_path, milvus_uri, metric, radius):
    """Milvus returns at most max_topk rows per request; with a tiny cap (this database's own
    settings) and many equal distances the paging must still return every row exactly once."""
    tiny_cap = Config(milvus=MilvusConfig(max_topk=7))
    dbs = {"embedded": connect(tmp_path / "embedded", settings=tiny_cap),
           "milvus-lite": connect(f"milvus-lite:{tmp_path / 'lite.db'}", settings=tiny_cap),
           "milvus": connect(milvus_uri, settings=tiny_cap)}
    try:
        _check_range_paging(dbs, metric, radius)
        with pytest.raises(UnsupportedByBackend, match="top-k limit of 7"):  # the cap in force is this db's
            dbs["milvus-lite"].collection("c").search("v", np.ones((1, 6), np.float32), k=8)
    finally:
        for db in dbs.values():
            db.close()


def _check_range_paging(dbs: dict, metric: str, radius: float) -> None:
    base = clustered(10, 6, seed=21)
    data = np.repeat(base, 6, axis=0)  # every distance occurs six times
    cols = {k: db.create_collection("c", {"v": VectorField(6, metric)}) for k, db in dbs.items()}
    for c in cols.values():
        c.upsert(list(range(len(data))), {"v": data})
    q = base[:2] + 0.05
    res = on_all(cols, lambda c: c.range_search("v", q, radius=radius))
    truth = exact_scores(metric, data, q)
    dist = truth if metric == "l2" else 1 - truth
    for qi, hits in enumerate(res["milvus-lite"]):
        assert sorted(h.id for h in hits) == [j for j in range(len(data)) if dist[qi, j] <= radius]
        assert len(hits) > 7
    for backend in ("milvus-lite", "milvus"):
        assert [sorted(h.id for h in hs) for hs in res[backend]] == [sorted(h.id for h in hs) for hs in res["embedded"]]


@pytest.mark.parametrize("seed", [0, 1])
def test_random_sequences_of_writes_leave_both_backends_identical(backends, seed):
    """Upserts (with random subsets of the vector fields), deletes by id and by filter, and payload
    merges in a random order; after each step every backend holds the same rows and answers the same.
    The standalone server runs the first sequence only: each step costs it strongly consistent round
    trips (a time tick each), and one sequence already walks every operation through its layout."""
    rng = np.random.default_rng(seed)
    on = BACKENDS if seed == 0 else ("embedded", "milvus-lite")
    name, cols = backends.create({"v": VectorField(6, "cosine"), "w": VectorField(3, "l2")}, SCHEMA, on=on)
    pool = [i if i % 2 else f"id-{i}" for i in range(40)]
    for step in range(25):
        op = rng.choice(["upsert", "upsert", "delete_ids", "delete_where", "update"])
        chosen = [pool[j] for j in rng.choice(len(pool), size=int(rng.integers(1, 8)), replace=False)]
        if op == "upsert":
            fields = [f for f in ("v", "w") if rng.random() < 0.7] or ["w"]
            vecs = {f: rng.standard_normal((len(chosen), 6 if f == "v" else 3)) for f in fields}
            pays = [{"kind": KINDS[int(rng.integers(0, 3))], "year": int(rng.integers(2000, 2010))} for _ in chosen]
            on_all(cols, lambda c: c.upsert(chosen, vecs, pays))
        elif op == "delete_ids":
            assert len(set(on_all(cols, lambda c: c.delete(ids=chosen)).values())) == 1
        elif op == "delete_where":
            where = {"year": {"$lt": int(rng.integers(2000, 2004))}}
            assert len(set(on_all(cols, lambda c: c.delete(where=where)).values())) == 1
        else:
            patch = {"kind": "video", "step": step}
            assert len(set(on_all(cols, lambda c: c.update_payload(chosen, patch)).values())) == 1
        rows = on_all(cols, lambda c: {r.id: (r.payload, sorted(r.vectors)) for r in c.scroll(with_vectors=True)})
        assert all(r == rows["embedded"] for r in rows.values()), (seed, step, op)
        q = rng.standard_normal((2, 6))
        assert_same_hits(on_all(cols, lambda c: c.search("v", q, k=5, where={"kind": {"$ne": "audio"}})))


@pytest.mark.parametrize("spec, words", [
    (VectorField(8, "l2", index="ivf_flat", params={"refine_factor": 8}), "'refine_factor' is refused for index 'ivf_flat'"),
    (VectorField(8, "l2", index="hnsw", params={"nprobe": 8}), "'nprobe' is refused for index 'hnsw'"),
    (VectorField(8, "l2", index="ivf_flat", params={"nlsit": 8}), "'nlsit' is refused for index 'ivf_flat': unknown"),
])
def test_unused_index_params_are_refused_on_both(backends, spec, words):
    """One shared check (schema.check_vector_field): a knob that would change nothing is refused
    by every backend, and nothing is created."""
    for backend, db in backends.dbs.items():
        with pytest.raises(InvalidInput, match=words):
            db.create_collection("refused", {"v": spec})
        assert "refused" not in db.list_collections(), backend


def test_milvus_says_which_embedded_knobs_it_has_no_counterpart_for(tmp_path):
    db = MilvusDatabase(f"milvus-lite:{tmp_path / 'k.db'}")
    try:
        with pytest.warns(IndexMappingWarning, match="'min_train'"):
            db.create_collection("k", {"v": VectorField(8, "l2", index="ivf_flat",
                                                        params={"nlist": 4, "min_train": 500, "nprobe": 4})})
    finally:
        db.close()


def test_field_search_defaults_are_honoured_by_milvus():
    """``nprobe`` / ``ef_search`` given on the field are Milvus' search defaults too; a query overrides them."""
    ivf = VectorField(8, "l2", index="ivf_flat", params={"nprobe": 7})
    assert search_params("IVF_FLAT", "l2", field_search_defaults(ivf), 10)["params"]["nprobe"] == 7
    assert search_params("IVF_FLAT", "l2", {**field_search_defaults(ivf), "nprobe": 3}, 10)["params"]["nprobe"] == 3
    hnsw = VectorField(8, "l2", index="hnsw", params={"ef_search": 99})
    assert search_params("HNSW", "l2", field_search_defaults(hnsw), 10)["params"]["ef"] == 99
    assert search_params("HNSW", "l2", {**field_search_defaults(hnsw), "ef": 40}, 10)["params"]["ef"] == 40
