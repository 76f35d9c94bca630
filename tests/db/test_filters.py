"""Filters: the columnar engine against the Python reference evaluator, filtered search exactness,
and hostile filters refused."""
from __future__ import annotations

import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.db.brute import knn, recall
from xmodal.db import Database, VectorField
from xmodal.db.filters import And, Cond, Not, Or, evaluate, parse_filter
from xmodal.errors import InvalidInput

SCHEMA = {"kind": "str", "year": "int", "score": "float", "ok": "bool", "tags": "list[str]", "nums": "list[int]",
          "meta": "json"}
KINDS = ["image", "text", "audio", "vidéo", ""]
TAGS = ["a", "b", "c", "d"]

maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731 - absent fields matter for the semantics
payloads = st.fixed_dictionaries({
    "kind": maybe(st.sampled_from(KINDS)),
    "year": maybe(st.integers(1990, 2030)),
    "score": maybe(st.floats(-5, 5, allow_nan=False)),
    "ok": maybe(st.booleans()),
    "tags": maybe(st.lists(st.sampled_from(TAGS), max_size=3)),
    "nums": maybe(st.lists(st.integers(0, 5), max_size=3)),
    "meta": maybe(st.sampled_from([1, "x", [1, 2], {"a": 1}, True])),
}).map(lambda d: {k: v for k, v in d.items() if v is not None})

literal = {
    "kind": st.sampled_from(KINDS), "year": st.one_of(st.integers(1990, 2030), st.floats(1990, 2030)),
    "score": st.floats(-5, 5, allow_nan=False), "ok": st.booleans(), "tags": st.sampled_from(TAGS),
    "nums": st.integers(0, 5), "meta": st.sampled_from([1, "x", [1, 2], {"a": 1}, True]),
}
ORDERED = ("kind", "year", "score")


@st.composite
def field_conds(draw):
    name = draw(st.sampled_from(sorted(SCHEMA)))
    ops = ["$eq", "$ne", "$in", "$nin", "$exists"] + (["$gt", "$gte", "$lt", "$lte"] if name in ORDERED else [])
    op = draw(st.sampled_from(ops))
    if op == "$exists":
        return {name: {op: draw(st.booleans())}}
    if op in ("$in", "$nin"):
        return {name: {op: draw(st.lists(literal[name], max_size=3))}}
    value = draw(literal[name])
    if op == "$eq" and draw(st.booleans()) and not isinstance(value, dict):
        return {name: value}  # shorthand
    return {name: {op: value}}


filters = st.recursive(
    field_conds(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"$and": xs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"$or": xs}),
        inner.map(lambda x: {"$not": x}),
        st.tuples(inner, inner).map(lambda t: {**t[0], **t[1]}),
    ),
    max_leaves=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(payloads, min_size=1, max_size=40), where=filters)
def test_engine_matches_reference(rows, where):
    node = parse_filter(where, SCHEMA)
    expected = {i for i, p in enumerate(rows) if evaluate(node, p, SCHEMA)}
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(tmp)
        col = db.create_collection("c", vectors={"v": VectorField(4, "l2")}, payload_schema=SCHEMA)
        x = np.random.default_rng(0).standard_normal((len(rows), 4)).astype(np.float32)
        col.upsert(list(range(len(rows))), {"v": x}, rows)
        assert col.count(where) == len(expected)
        assert {r.id for r in col.scroll(where=where)} == expected
        hits = col.search("v", x[0], k=len(rows), where=where)[0]
        assert {h.id for h in hits} == expected
        # The payload index (sorted numeric columns), at any share, where the filter has a part it serves.
        rid_of = {rid: i for i, rid in col._rid_of.items()}
        found = col._columns.rows(node, len(col._alive), 1.0) if node is not None else None
        if found is not None:
            assert {rid_of[r] for r in found.tolist() if r in rid_of} == expected
        db.close()


def test_filtered_search_is_exact_at_low_selectivity(db):
    rng = np.random.default_rng(5)
    n = 3000
    x = rng.standard_normal((n, 16)).astype(np.float32)
    col = db.create_collection("c", vectors={"v": VectorField(16, "cosine", "hnsw")}, payload_schema={"pct": "int"})
    col.upsert(list(range(n)), {"v": x}, [{"pct": i % 100} for i in range(n)])
    q = rng.standard_normal((30, 16)).astype(np.float32)
    allowed = [i for i in range(n) if i % 100 == 7]  # 1%
    got = [[h.id for h in r] for r in col.search("v", q, k=10, where={"pct": 7})]
    assert got == knn(q, x[allowed], allowed, 10, "cosine")  # k results, exactly the right ones


@pytest.mark.parametrize("kind, params", [
    ("pq", {"min_train": 700, "m": 4, "nbits": 4, "refine_factor": 10}),  # no FAISS selector: over-fetch
    ("ivf_flat", {"min_train": 500, "nlist": 4, "nprobe": 4}),  # FAISS IDSelector
    ("hnsw", {}),
    ("kdtree", {}),
])
def test_filtered_search_through_the_index(db, monkeypatch, kind, params):
    import xmodal.db.vectors as vectors_module
    from xmodal.db.planner import INDEX

    # Force the index path (the planner would scan this small allowed subset exactly).
    monkeypatch.setattr(vectors_module, "plan_knn", lambda shape, costs: INDEX)
    rng = np.random.default_rng(6)
    n, dim = 2000, (3 if kind == "kdtree" else 8)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    col = db.create_collection("c", vectors={"v": VectorField(dim, "l2", kind, params)},
                               payload_schema={"even": "bool"})
    col.upsert(list(range(n)), {"v": x}, [{"even": i % 2 == 0} for i in range(n)])
    col.delete(ids=list(range(0, 200, 4)))  # tombstones too
    allowed = [i for i in range(n) if i % 2 == 0 and not (i < 200 and i % 4 == 0)]
    got = [[h.id for h in r] for r in col.search("v", x[:20], k=10, where={"even": True})]
    assert all(len(r) == 10 and all(i in set(allowed) for i in r) for r in got)
    assert recall(got, knn(x[:20], x[allowed], allowed, 10, "l2")) >= 0.9


def test_ast_is_plain_data():
    node = parse_filter({"kind": "image", "year": {"$gte": 2020}, "$or": [{"tags": "a"}, {"$not": {"ok": True}}]},
                        SCHEMA)
    assert node == And((Cond("kind", "$eq", "image"), Cond("year", "$gte", 2020),
                        Or((Cond("tags", "$eq", "a"), Not(Cond("ok", "$eq", True))))))
    assert parse_filter({}, SCHEMA) is None and parse_filter(None, SCHEMA) is None


def _deep(n):
    f = {"kind": "image"}
    for _ in range(n):
        f = {"$not": f}
    return f


@pytest.mark.parametrize("where, words", [
    ({"kind": {"$regex": "x"}}, "$regex"),
    ({"$where": "1"}, "$where"),
    ({"nope": 1}, "undeclared"),
    ({"year": "2020"}, "year"),
    ({"year": True}, "year"),
    ({"kind": 3}, "kind"),
    ({"ok": {"$gt": True}}, "not allowed"),
    ({"tags": {"$lt": "a"}}, "not allowed"),
    ({"year": {"$in": 2020}}, "list"),
    ({"year": {"$exists": 1}}, "true or false"),
    ({"$or": []}, "non-empty"),
    ({"$and": {"kind": "image"}}, "non-empty"),
    ({1: "x"}, "string"),
    ({"year": {"$gt": float("nan")}}, "NaN"),
    ({"year": {"$gt": 1, "plain": 2}}, "mix"),
    (_deep(100), "deeper"),
    ({"$or": [{"year": i} for i in range(5000)]}, "conditions"),
    ({"year": {"$in": list(range(20000))}}, "longer"),
    ("kind = image", "dict"),
    ({"x" * 10000: 1}, "undeclared"),
])
def test_hostile_filters_are_refused(db, where, words):
    col = db.create_collection("c", vectors={"v": VectorField(2, "l2")}, payload_schema=SCHEMA)
    col.upsert([1], {"v": np.ones((1, 2), np.float32)}, [{"kind": "image"}])
    for call in (lambda: col.search("v", np.ones(2), where=where), lambda: col.count(where),
                 lambda: col.delete(where=where)):
        with pytest.raises(InvalidInput) as err:
            call()
        assert words in str(err.value) and len(str(err.value)) < 400
    assert col.count() == 1


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_cached_filters_follow_every_write(db, kind):
    """Repeated filtered searches reuse the filter's allowed rows; every kind of write (upsert,
    replacement, delete, payload update, compaction) must show in the next search."""
    rng = np.random.default_rng(9)
    n, dim = 600, 8
    x = rng.standard_normal((n, dim)).astype(np.float32)
    col = db.create_collection("c", vectors={"v": VectorField(dim, "cosine", kind)}, payload_schema={"g": "int"})
    col.upsert(list(range(n)), {"v": x}, [{"g": i % 3} for i in range(n)])
    where = {"g": 0}

    def check(expected):
        for batch in (x[:1], x[:10]):
            got = [[h.id for h in r] for r in col.search("v", batch, k=5, where=where, with_payload=False)]
            want = knn(batch, np.stack([vec[i] for i in expected]), list(expected), 5, "cosine")
            assert recall(got, want) == 1.0
            assert all(i in expected for r in got for i in r)

    vec = {i: x[i] for i in range(n)}
    allowed = {i for i in range(n) if i % 3 == 0}
    check(allowed)
    check(allowed)  # from the cache
    y = rng.standard_normal((5, dim)).astype(np.float32)
    col.upsert([1000 + i for i in range(5)], {"v": y}, [{"g": 0}] * 5)
    vec.update({1000 + i: y[i] for i in range(5)})
    allowed |= {1000 + i for i in range(5)}
    check(allowed)
    col.upsert([3], {"v": x[:1]}, [{"g": 0}])  # replaces row 3, now allowed, with row 0's vector
    vec[3] = x[0]
    allowed.add(3)
    check(allowed)
    col.delete(ids=[0, 6, 9])
    allowed -= {0, 6, 9}
    check(allowed)
    col.update_payload([12, 15], {"g": 1})
    allowed -= {12, 15}
    check(allowed)
    col.delete(where={"g": 0, "$not": {"g": 1}})  # everything allowed goes
    assert col.search("v", x[:2], k=5, where=where) == [[], []]
    col.compact()
    assert col.search("v", x[:2], k=5, where=where) == [[], []]


def test_filter_memo_keeps_literal_types_apart(db):
    """Parsed filters are memoised; 1, 1.0 and True (equal in Python) must not share an entry,
    and a refused filter stays refused."""
    from xmodal.db.collection import filter_key

    assert len({filter_key({"a": 1}), filter_key({"a": 1.0}), filter_key({"a": True})}) == 3
    assert filter_key({"a": [1, 2]}) != filter_key({"a": (1, 2)})
    assert filter_key({"a": np.int64(1)}) is None
    col = db.create_collection("c", vectors={"v": VectorField(2, "l2", "flat")},
                               payload_schema={"b": "bool", "n": "int"})
    col.upsert(["t", "f"], {"v": np.eye(2, dtype=np.float32)}, [{"b": True, "n": 1}, {"b": False, "n": 2}])
    for _ in range(2):
        assert [h.id for h in col.search("v", np.eye(2, dtype=np.float32)[:1], k=5, where={"n": 1})[0]] == ["t"]
        assert [h.id for h in col.search("v", np.eye(2, dtype=np.float32)[:1], k=5, where={"b": False})[0]] == ["f"]
        with pytest.raises(InvalidInput):
            col.search("v", np.eye(2, dtype=np.float32)[:1], k=5, where={"b": 1})
        with pytest.raises(InvalidInput):
            col.search("v", np.eye(2, dtype=np.float32)[:1], k=5, where={"nope": 1})


def test_filtered_hnsw_widens_ef_to_keep_recall(db, monkeypatch):
    """5 % allowed through the graph (forced): ef is widened so the beam still holds allowed
    nodes, and recall against brute force over the allowed rows stays high."""
    import xmodal.db.vectors as vectors_module
    from xmodal.db.planner import INDEX

    monkeypatch.setattr(vectors_module, "plan_knn", lambda shape, costs: INDEX)
    rng = np.random.default_rng(8)
    n, dim = 4000, 16
    x = rng.standard_normal((n, dim)).astype(np.float32)
    col = db.create_collection("c", vectors={"v": VectorField(dim, "l2", "hnsw", {"M": 8, "ef_search": 10})},
                               payload_schema={"pick": "bool"})
    col.upsert(list(range(n)), {"v": x}, [{"pick": i % 20 == 0} for i in range(n)])
    allowed = [i for i in range(n) if i % 20 == 0]
    q = x[rng.integers(0, n, 40)] + 0.1
    got = [[h.id for h in r] for r in col.search("v", q, k=10, where={"pick": True})]
    assert recall(got, knn(q, x[allowed], allowed, 10, "l2")) >= 0.95


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_payload_index_answers_like_exact_search_through_every_write(db, kind):
    """Narrow range / equality filters on numeric fields find their rows through a sorted payload
    index and its delta of rows written since the sort (issue 16). Searches through it -- with a
    fresh filter and a cached one -- must equal exact=True and brute force over the reference
    evaluator's rows after upserts, replacements, deletes, payload updates (to another value and
    to none) and a write burst that makes the index sort again."""
    rng = np.random.default_rng(21)
    n, dim = 3000, 8
    schema = {"n": "int", "f": "float", "kind": "str"}
    col = db.create_collection("c", vectors={"v": VectorField(dim, "l2", kind, {"M": 16} if kind == "hnsw" else {})},
                               payload_schema=schema)
    vec: dict[int, np.ndarray] = {}
    pay: dict[int, dict] = {}

    def write(ids, rows):
        x = rng.standard_normal((len(ids), dim)).astype(np.float32)
        col.upsert(list(ids), {"v": x}, rows)
        vec.update(zip(ids, x))
        pay.update(zip(ids, rows))

    write(range(n), [{"n": int(v), "f": float(v) / 7, "kind": "ab"[v % 2]} if v % 11 else {"kind": "a"}
                     for v in rng.integers(0, 1000, n)])
    col.wait_for_maintenance()
    wheres = [{"n": {"$gte": 10, "$lt": 20}}, {"n": 500}, {"n": {"$lte": 3}}, {"f": {"$gt": 140.0}},
              {"n": {"$gt": 990}, "kind": "a"}, {"$and": [{"f": {"$gte": 1.0}}, {"f": {"$lt": 2.5}}]}]
    q = rng.standard_normal((3, dim)).astype(np.float32)

    def check(where, indexed=True):
        node = parse_filter(where, schema)
        ids = sorted(i for i, p in pay.items() if evaluate(node, p, schema))
        want = knn(q, np.stack([vec[i] for i in ids]), ids, 5, "l2") if ids else [[] for _ in q]
        for _ in range(2):  # a fresh evaluation, then the cached one
            got = [[h.id for h in r] for r in col.search("v", q, k=5, where=where, with_payload=False)]
            exact = [[h.id for h in r] for r in col.search("v", q, k=5, where=where, params={"exact": True},
                                                           with_payload=False)]
            assert got == exact == want, where
            one = [[h.id for h in r] for r in col.search("v", q[:1], k=5, where=where, with_payload=False)]
            assert one == want[:1], where
        found = col._columns.rows(node, len(col._alive), col._settings.payload_index_max_share)
        assert (found is not None) == indexed  # which path answered

    def check_all(wide=()):
        for where in wheres:
            check(where, indexed=where not in wide)

    check_all()
    assert col._columns.cols["n"].order is not None
    write([5, 6, 7], [{"n": 15, "f": 2.0, "kind": "a"}, {"n": 500}, {"kind": "b"}])  # replacements
    write(range(n, n + 40), [{"n": 12 + i % 5, "f": 150.0 + i, "kind": "a"} for i in range(40)])  # new rows
    assert col._columns.cols["n"].delta  # newer rows are the delta, checked directly
    check_all()
    in_range = [i for i, p in pay.items() if 10 <= p.get("n", -1) < 20][:6]
    col.delete(ids=in_range[:3])
    for i in in_range[:3]:
        del pay[i], vec[i]
    col.update_payload(in_range[3:5], {"n": 700})  # out of the range
    col.update_payload([in_range[5]], {"n": None})  # no value at all
    col.update_payload([100, 101], {"n": 500, "f": 1.5})  # into two filters
    for i in in_range[3:5]:
        pay[i] = {**pay[i], "n": 700}
    pay[in_range[5]] = {k: v for k, v in pay[in_range[5]].items() if k != "n"}
    for i in (100, 101):
        pay[i] = {**pay[i], "n": 500, "f": 1.5}
    check_all()
    write(range(n + 100, n + 100 + 4200), [{"n": 19, "f": 0.5} for _ in range(4200)])  # past the delta bound
    assert col._columns.cols["n"].order is None  # dropped; the next narrow filter sorts again
    wheres.append({"n": 19})  # now 4,200+ rows: above the share, the mask answers
    check_all(wide=(wheres[0], wheres[-1]))
    assert col._columns.cols["n"].order is not None  # sorted again by the narrow ones
