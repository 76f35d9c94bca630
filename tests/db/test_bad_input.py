"""Every kind of bad input raises a typed error naming the problem, and writes nothing."""
from __future__ import annotations

import numpy as np
import pytest

from xmodal.db import VectorField
from xmodal.errors import InvalidInput


@pytest.fixture
def col(db):
    c = db.create_collection("c", vectors={"v": VectorField(4, "cosine", "hnsw"), "w": VectorField(2, "ip")},
                             payload_schema={"kind": "str", "year": "int", "score": "float", "ok": "bool",
                                             "tags": "list[str]"})
    c.upsert([1, "a"], {"v": np.ones((2, 4)), "w": np.ones((2, 2))}, [{"kind": "x"}, {"year": 3}])
    return c


def snapshot(col):
    return (col.count(), [(r.id, r.payload) for r in col.scroll(with_vectors=False)],
            [[h.id for h in r] for r in col.search("v", np.ones(4), k=5)])


V4 = np.ones((1, 4))


@pytest.mark.parametrize("call, words", [
    (lambda c: c.upsert([2], {"v": np.ones((1, 5))}), "dimension"),
    (lambda c: c.upsert([2], {"v": np.array([[1, np.nan, 0, 0]])}), "NaN"),
    (lambda c: c.upsert([2], {"v": np.array([[1, np.inf, 0, 0]])}), "NaN or infinity"),
    (lambda c: c.upsert([2], {"v": np.zeros((1, 4))}), "all zeros"),
    (lambda c: c.upsert([2], {"nope": V4}), "no vector field 'nope'"),
    (lambda c: c.upsert([2], {}), "non-empty"),
    (lambda c: c.upsert([2, 3], {"v": V4}), "1 vectors for 2 ids"),
    (lambda c: c.upsert([2.5], {"v": V4}), "float"),
    (lambda c: c.upsert([None], {"v": V4}), "NoneType"),
    (lambda c: c.upsert([True], {"v": V4}), "bool"),
    (lambda c: c.upsert([b"x"], {"v": V4}), "bytes"),
    (lambda c: c.upsert([""], {"v": V4}), "characters"),
    (lambda c: c.upsert([2**70], {"v": V4}), "64-bit"),
    (lambda c: c.upsert([2, 2], {"v": np.ones((2, 4))}), "twice"),
    (lambda c: c.upsert([2], {"v": V4}, [{"year": "2020"}]), "'year': expected int"),
    (lambda c: c.upsert([2], {"v": V4}, [{"year": 1.5}]), "'year'"),
    (lambda c: c.upsert([2], {"v": V4}, [{"score": float("nan")}]), "finite"),
    (lambda c: c.upsert([2], {"v": V4}, [{"ok": 1}]), "'ok'"),
    (lambda c: c.upsert([2], {"v": V4}, [{"tags": ["a", 1]}]), "'tags'"),
    (lambda c: c.upsert([2], {"v": V4}, [{"free": object()}]), "JSON"),
    (lambda c: c.upsert([2], {"v": V4}, [{1: 2}]), "string"),
    (lambda c: c.upsert([2], {"v": V4}, [{"kind": "x"}, {"kind": "y"}]), "payloads"),
    (lambda c: c.upsert([2], {"v": V4}, ["notadict"]), "dict"),
    (lambda c: c.upsert([2, 3], {"v": np.ones((2, 4))}, [{"kind": "ok"}, {"kind": 7}]), "'kind'"),
    (lambda c: c.search("v", V4, k=0), "k must be"),
    (lambda c: c.search("v", V4, k=-1), "k must be"),
    (lambda c: c.search("v", V4, k=2.0), "k must be"),
    (lambda c: c.search("zz", V4), "no vector field 'zz'"),
    (lambda c: c.search("v", np.ones(3)), "dimension"),
    (lambda c: c.search("v", np.array([np.nan] * 4)), "NaN"),
    (lambda c: c.search("v", V4, params={"nprobe": 3}), "nprobe"),
    (lambda c: c.search("v", V4, params={"ef": 0}), "positive"),
    (lambda c: c.search("v", V4, params={"exact": 1}), "true or false"),
    (lambda c: c.search("v", V4, where={"undeclared": 1}), "undeclared"),
    (lambda c: c.range_search("v", V4, radius=-1), "radius"),
    (lambda c: c.range_search("v", V4, radius=float("nan")), "radius"),
    (lambda c: c.range_search("w", np.ones(2), radius=1.0), "threshold_search"),
    (lambda c: c.threshold_search("v", V4, min_similarity="0.5"), "min_similarity"),
    (lambda c: c.delete(), "ids or where"),
    (lambda c: c.delete(ids=[1.5]), "float"),
    (lambda c: c.update_payload([1], {"year": "x"}), "'year'"),
    (lambda c: c.update_payload([1], "year"), "dict"),
    (lambda c: c.get("abc"), "sequence"),
    (lambda c: list(c.scroll(batch_size=0)), "batch_size"),
    (lambda c: c.set_metadata({"x": float("nan")}), "JSON"),
])
def test_bad_input_is_refused_and_changes_nothing(col, call, words):
    before = snapshot(col)
    with pytest.raises(InvalidInput) as err:
        call(col)
    assert words in str(err.value)
    assert snapshot(col) == before


def test_threshold_on_l2_field_is_refused(db):
    c = db.create_collection("l", vectors={"v": VectorField(2, "l2")})
    with pytest.raises(InvalidInput, match="range_search"):
        c.threshold_search("v", np.ones(2), min_similarity=0.5)


@pytest.mark.parametrize("vectors, schema, words", [
    ({"v": VectorField(0)}, None, "dim"),
    ({"v": VectorField(4, metric="dot")}, None, "unknown metric"),
    ({"v": VectorField(4, index="annoy")}, None, "unknown index kind"),
    ({"v": VectorField(4, index="hnsw", params={"nlist": 4})}, None, "'nlist' is refused for index 'hnsw'"),
    ({"v": VectorField(4, index="ivf_flat", params={"refine_factor": 8})}, None,
     "'refine_factor' is refused for index 'ivf_flat': this kind does not re-rank"),
    ({"v": VectorField(4, index="flat", params={"nprobe": 8})}, None, "'nprobe' is refused for index 'flat'"),
    ({"v": VectorField(4, index="sq8", params={"nprob": 8})}, None, "'nprob' is refused for index 'sq8': unknown"),
    ({"v": VectorField(4, index="hnsw", params={"M": -1})}, None, "positive"),
    ({"v": VectorField(6, index="pq", params={"m": 4})}, None, "divide"),
    ({"v": VectorField(3, "ip", index="kdtree")}, None, "kdtree"),
    ({"bad name": VectorField(4)}, None, "vector field name"),
    ({}, None, "at least one"),
    ({"v": VectorField(4)}, {"year": "integer"}, "unknown type"),
    ({"v": VectorField(4)}, {"$x": "int"}, "payload field name"),
])
def test_bad_schemas_are_refused(db, vectors, schema, words):
    with pytest.raises(InvalidInput, match=words):
        db.create_collection("c", vectors=vectors, payload_schema=schema)
    assert db.list_collections() == []


@pytest.mark.parametrize("name", ["", "a b", "../x", "x" * 65, 3, "r1; DROP TABLE collections"])
def test_bad_collection_names(db, name):
    with pytest.raises(InvalidInput, match="collection name"):
        db.create_collection(name, vectors={"v": VectorField(2)})
