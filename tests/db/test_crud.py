"""Rows: upsert / get / delete / update_payload / scroll / count, reopen round trips, metadata."""
from __future__ import annotations

import numpy as np
import pytest

from xmodal.db import Database, Hit, Record, VectorField, connect
from xmodal.db.api import BaseCollection, BaseDatabase
from xmodal.errors import AlreadyExists, NotFound


def two_field(db):
    return db.create_collection(
        "media", vectors={"visual": VectorField(8, "cosine", "hnsw"), "text": VectorField(4, "l2", "flat")},
        payload_schema={"kind": "str", "year": "int"}, metadata={"model": "m1"})


def test_public_shape(db, tmp_path):
    col = two_field(db)
    assert isinstance(db, BaseDatabase) and isinstance(col, BaseCollection)
    assert db.list_collections() == ["media"] and db.collection("media") is col
    assert col.vector_fields["visual"] == VectorField(8, "cosine", "hnsw")
    assert col.payload_schema == {"kind": "str", "year": "int"} and col.metadata == {"model": "m1"}
    other = connect(str(tmp_path / "other"))
    assert isinstance(other, Database) and not other.read_only and other.list_collections() == []
    other.close()


def test_partial_vector_fields_and_mixed_ids(db):
    col = two_field(db)
    rng = np.random.default_rng(0)
    vis, txt = rng.standard_normal((3, 8)), rng.standard_normal((5, 4))
    col.upsert([1, "a", 2], {"visual": vis, "text": txt[:3]}, [{"kind": "image"}] * 3)  # images: both
    col.upsert(["doc1", "doc2"], {"text": txt[3:]}, [{"kind": "text", "year": 2020}, None])  # documents: text only
    assert col.count() == 5 and col.count({"kind": "image"}) == 3
    assert {h.id for h in col.search("visual", vis[0], k=10)[0]} == {1, "a", 2}  # docs absent from visual
    assert {h.id for h in col.search("text", txt[0], k=10)[0]} == {1, "a", 2, "doc1", "doc2"}
    recs = col.get(["doc1", "missing", 1, "1"], with_vectors=True)  # "1" is not 1
    assert [r.id for r in recs] == ["doc1", 1]
    assert isinstance(recs[0], Record) and set(recs[0].vectors) == {"text"}
    assert np.allclose(recs[1].vectors["visual"], vis[0])  # as given, not normalised
    hit = col.search("visual", vis[1], k=1, with_vectors=True)[0][0]
    assert isinstance(hit, Hit) and hit.id == "a" and hit.payload == {"kind": "image"}
    assert hit.score == pytest.approx(1.0, abs=1e-5) and np.allclose(hit.vectors["visual"], vis[1])


def test_upsert_replaces_whole_row(db):
    col = two_field(db)
    col.upsert([7], {"visual": np.ones(8), "text": np.ones(4)}, [{"kind": "image", "year": 1}])
    col.upsert([7], {"text": np.full(4, 2.0)}, [{"kind": "text"}])
    (rec,) = col.get([7], with_vectors=True)
    assert rec.payload == {"kind": "text"} and set(rec.vectors) == {"text"}
    assert col.search("visual", np.ones(8), k=5) == [[]]
    assert col.count() == 1


def test_delete_by_ids_and_filter_and_never_returned(db):
    col = two_field(db)
    rng = np.random.default_rng(1)
    v = rng.standard_normal((100, 8))
    col.upsert(list(range(100)), {"visual": v}, [{"year": 2000 + i % 10} for i in range(100)])
    assert col.delete(ids=[1, 2, 3, 999]) == 3
    assert col.delete(where={"year": {"$gte": 2008}}) == 20
    assert col.delete(ids=[4, 5, 18], where={"year": 2005}) == 1  # both: the intersection
    gone = {1, 2, 3, 5} | {i for i in range(100) if i % 10 >= 8}
    assert col.count() == 100 - len(gone)
    ids = {h.id for row in col.search("visual", v, k=100) for h in row}
    assert ids == set(range(100)) - gone
    assert col.get([1, 5]) == []


def test_update_payload_merges_and_filters_follow(db):
    col = two_field(db)
    col.upsert(["a", "b"], {"text": np.ones((2, 4))}, [{"kind": "x", "year": 1, "note": "keep"}, {"kind": "y"}])
    assert col.update_payload(["a", "zzz"], {"year": 5, "kind": None, "extra": [1]}) == 1
    assert col.get(["a"])[0].payload == {"year": 5, "note": "keep", "extra": [1]}
    assert col.count({"kind": {"$exists": False}}) == 1 and col.count({"year": 5}) == 1


def test_scroll_batches_and_filter(db):
    col = two_field(db)
    col.upsert(list(range(25)), {"text": np.ones((25, 4))}, [{"year": i} for i in range(25)])
    assert [r.id for r in col.scroll(batch_size=7)] == list(range(25))
    assert [r.id for r in col.scroll(where={"year": {"$lt": 3}}, with_vectors=True)] == [0, 1, 2]
    assert all(r.vectors["text"].shape == (4,) for r in col.scroll(where={"year": 1}, with_vectors=True))


def test_reopen_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    v = rng.standard_normal((300, 8)).astype(np.float32)
    with Database(tmp_path / "d") as db:
        col = two_field(db)
        col.upsert(list(range(300)), {"visual": v, "text": v[:, :4]}, [{"year": i} for i in range(300)])
        col.delete(ids=list(range(0, 300, 3)))
        col.update_payload([1], {"kind": "z"})
        col.set_metadata({"model": "m2"})
        before = [[(h.id, round(h.score, 5)) for h in r] for r in col.search("visual", v[:5], k=7)]
    with Database(tmp_path / "d") as db:
        col = db.collection("media")
        assert col.count() == 200 and col.metadata == {"model": "m2"} and col.get([1])[0].payload["kind"] == "z"
        after = [[(h.id, round(h.score, 5)) for h in r] for r in col.search("visual", v[:5], k=7)]
        assert after == before
        col.upsert([1000], {"visual": v[0]})  # ids keep growing after reopen
        assert col.search("visual", v[0], k=2)[0][0].id in (0, 1000) and col.count() == 201


def test_collections_lifecycle(db):
    two_field(db)
    with pytest.raises(AlreadyExists):
        two_field(db)
    same = db.create_collection("media", vectors={"visual": VectorField(8, "cosine", "hnsw"),
                                                  "text": VectorField(4, "l2", "flat")},
                                payload_schema={"kind": "str", "year": "int"}, exist_ok=True)
    assert same is db.collection("media")
    with pytest.raises(AlreadyExists):
        db.create_collection("media", vectors={"visual": VectorField(9)}, exist_ok=True)
    db.drop_collection("media")
    assert db.list_collections() == []
    with pytest.raises(NotFound):
        db.collection("media")
    with pytest.raises(NotFound):
        same.count()
    with pytest.raises(NotFound):
        db.drop_collection("media")
    col = two_field(db)  # the name is reusable and starts empty
    assert col.count() == 0


def test_single_query_vector_is_a_batch_of_one(db):
    col = two_field(db)
    col.upsert([1, 2], {"text": np.eye(2, 4)})
    assert len(col.search("text", np.array([1, 0, 0, 0]), k=1)) == 1
    assert col.search("text", np.array([1, 0, 0, 0]), k=1)[0][0].id == 1
