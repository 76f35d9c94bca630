"""Collections and raw vectors over HTTP against a real embedded database (no model needed)."""
from __future__ import annotations

import numpy as np
import pytest

SCHEMA = {
    "name": "docs",
    "vectors": {"v": {"dim": 4, "metric": "cosine", "index": "flat"}},
    "payload_schema": {"kind": "str", "year": "int"},
    "metadata": {"owner": "tests"},
}


def points(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, 4)).astype(np.float32)
    return [{"id": i, "vectors": {"v": vecs[i].tolist()},
             "payload": {"kind": "image" if i % 2 else "text", "year": 2000 + i}} for i in range(n)]


@pytest.fixture
def client(make_client):
    c = make_client()
    assert c.post("/v1/collections", json=SCHEMA).status_code == 201
    return c


def test_collection_lifecycle(make_client):
    c = make_client()
    assert c.get("/v1/collections").json() == {"namespace": "default", "collections": []}
    r = c.post("/v1/collections", json=SCHEMA)
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["vectors"]["v"]["dim"] == 4 and info["payload_schema"] == SCHEMA["payload_schema"]
    assert info["metadata"]["owner"] == "tests" and info["count"] == 0
    assert c.get("/v1/collections").json()["collections"] == ["docs"]
    again = c.post("/v1/collections", json=SCHEMA)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_exists"
    assert c.post("/v1/collections", json={**SCHEMA, "exist_ok": True}).status_code == 201
    assert c.delete("/v1/collections/docs").status_code == 204
    missing = c.get("/v1/collections/docs")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert "docs" in missing.json()["error"]["message"]
    assert c.delete("/v1/collections/docs").status_code == 404


@pytest.mark.parametrize("bad, status", [
    ({**SCHEMA, "name": "../evil"}, 400),
    ({**SCHEMA, "name": "ns_app_b__docs"}, 400),
    ({**SCHEMA, "name": "with-dash"}, 400),
    ({**SCHEMA, "vectors": {}}, 422),
    ({**SCHEMA, "vectors": {"v": {"dim": 0}}}, 422),
    ({**SCHEMA, "vectors": {"v": {"dim": 4, "metric": "hamming"}}}, 422),
    ({**SCHEMA, "payload_schema": {"kind": "complex"}}, 400),
    ({**SCHEMA, "unexpected": 1}, 422),
])
def test_bad_collection_specs_are_refused_and_create_nothing(make_client, bad, status):
    c = make_client()
    r = c.post("/v1/collections", json=bad)
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] and body["message"]
    assert c.get("/v1/collections").json()["collections"] == []


def test_upsert_get_delete_roundtrip(client):
    pts = points(6)
    r = client.put("/v1/collections/docs/points", json={"points": pts})
    assert r.status_code == 200 and r.json() == {"count": 6}
    assert client.get("/v1/collections/docs").json()["count"] == 6
    got = client.post("/v1/collections/docs/points/get", json={"ids": [3, 1, 99], "with_vectors": True}).json()
    assert [g["id"] for g in got] == [3, 1]
    assert np.allclose(got[0]["vectors"]["v"], pts[3]["vectors"]["v"], atol=1e-6)
    assert got[0]["payload"] == {"kind": "image", "year": 2003}
    one = client.get("/v1/collections/docs/points/3")
    assert one.status_code == 200 and one.json()["id"] == 3 and one.json()["vectors"] is None
    assert client.get("/v1/collections/docs/points/12345").status_code == 404
    # string ids live beside integer ids
    client.put("/v1/collections/docs/points", json={"points": [{"id": "x-1", "vectors": {"v": [1, 0, 0, 0]}}]})
    assert client.get("/v1/collections/docs/points/x-1").json()["id"] == "x-1"
    r = client.post("/v1/collections/docs/points/delete", json={"ids": [1, 3]})
    assert r.json() == {"count": 2}
    r = client.post("/v1/collections/docs/points/delete", json={"where": {"kind": "text"}})
    assert r.json() == {"count": 3}
    assert client.get("/v1/collections/docs").json()["count"] == 2  # 5 and "x-1"


def test_bad_vectors_change_nothing(client):
    client.put("/v1/collections/docs/points", json={"points": points(3)})
    before = client.post("/v1/collections/docs/points/get", json={"ids": [0, 1, 2], "with_vectors": True}).json()
    bad_batches = [
        [{"id": 0, "vectors": {"v": [1, 2, 3]}}],                                   # wrong dimension
        [{"id": 0, "vectors": {"v": [0, 0, 0, 0]}}, {"id": 7, "vectors": {"v": [1, 2]}}],
        [{"id": 0, "vectors": {"w": [1, 2, 3, 4]}}],                                # unknown field
        [{"id": 0, "vectors": {"v": [1, 2, 3, 4]}, "payload": {"year": "not a number"}}],
        [{"id": 5, "vectors": {"v": [1, 2, 3, 4]}}, {"id": 5, "vectors": {"v": [1, 2, 3, 4]}}],  # duplicate id
        [{"id": 1.5, "vectors": {"v": [1, 2, 3, 4]}}],                               # float id
    ]
    for batch in bad_batches:
        r = client.put("/v1/collections/docs/points", json={"points": batch})
        assert r.status_code in (400, 422), (batch, r.text)
        assert r.json()["error"]["message"]
    nan = client.put("/v1/collections/docs/points", content=b'{"points": [{"id": 0, "vectors": {"v": [NaN, 1, 2, 3]}}]}',
                     headers={"content-type": "application/json"})
    assert nan.status_code in (400, 422)
    after = client.post("/v1/collections/docs/points/get", json={"ids": [0, 1, 2, 5, 7], "with_vectors": True}).json()
    assert after == before
    empty_delete = client.post("/v1/collections/docs/points/delete", json={})
    assert empty_delete.status_code == 400 and client.get("/v1/collections/docs").json()["count"] == 3


def test_knn_range_threshold_and_filters(client):
    pts = points(20, seed=1)
    client.put("/v1/collections/docs/points", json={"points": pts})
    q = pts[4]["vectors"]["v"]
    knn = client.post("/v1/collections/docs/search", json={"vector": q, "k": 3}).json()["results"][0]
    assert knn[0]["id"] == 4 and knn[0]["score"] == pytest.approx(1.0, abs=1e-5) and len(knn) == 3
    assert [h["score"] for h in knn] == sorted([h["score"] for h in knn], reverse=True)
    only_text = client.post("/v1/collections/docs/search",
                            json={"vector": q, "k": 5, "where": {"kind": "text", "year": {"$gte": 2010}}}).json()
    hits = only_text["results"][0]
    assert hits and all(h["payload"]["kind"] == "text" and h["payload"]["year"] >= 2010 for h in hits)
    thr = client.post("/v1/collections/docs/search", json={"vector": q, "mode": "threshold", "min_similarity": 0.5}).json()
    assert thr["results"][0] and all(h["score"] >= 0.5 - 1e-6 for h in thr["results"][0])
    rng = client.post("/v1/collections/docs/search", json={"vector": q, "mode": "range", "radius": 0.5}).json()
    ids_range = {h["id"] for h in rng["results"][0]}
    assert ids_range == {h["id"] for h in thr["results"][0]}  # 1 - cos <= 0.5  <=>  cos >= 0.5
    batch = client.post("/v1/collections/docs/search", json={"vectors": [q, pts[7]["vectors"]["v"]], "k": 1}).json()
    assert [row[0]["id"] for row in batch["results"]] == [4, 7]


@pytest.mark.parametrize("body", [
    {"vector": [1, 2, 3], "k": 3},
    {"vector": [1, 2, 3, 4], "k": 0},
    {"vector": [1, 2, 3, 4], "k": 100000},
    {"vector": [1, 2, 3, 4], "mode": "range"},
    {"vector": [1, 2, 3, 4], "mode": "threshold"},
    {"vector": [1, 2, 3, 4], "field": "nope"},
    {"vector": [1, 2, 3, 4], "where": {"undeclared": 1}},
    {"vector": [1, 2, 3, 4], "where": {"year": {"$regex": "x"}}},
    {},
    {"vector": [1, 2, 3, 4], "vectors": [[1, 2, 3, 4]]},
])
def test_bad_searches_are_client_errors(client, body):
    client.put("/v1/collections/docs/points", json={"points": points(3)})
    r = client.post("/v1/collections/docs/search", json=body)
    assert 400 <= r.status_code < 500, r.text
    err = r.json()["error"]
    assert err["code"] in ("invalid_input", "validation_error", "not_found") and err["message"]


def test_openapi_documents_every_route(make_client):
    spec = make_client().get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/v1/collections", "/v1/collections/{name}", "/v1/collections/{name}/points",
              "/v1/collections/{name}/search", "/v1/media/upload", "/v1/media/search", "/v1/media/similar",
              "/v1/media/index", "/v1/media/thumbnail", "/v1/health", "/v1/metrics"):
        assert p in paths, p
    schemes = spec["components"]["securitySchemes"]
    assert any(s.get("type") == "apiKey" for s in schemes.values())


def test_health_and_metrics_count_requests(make_client):
    c = make_client()
    assert c.get("/v1/health").json()["status"] == "ok"
    c.get("/v1/collections/nope")
    m = c.get("/v1/metrics").json()
    assert m["requests"] >= 2 and m["errors_4xx"] >= 1
    assert "GET /v1/collections/{name}" in m["routes"]
    assert m["routes"]["GET /v1/collections/{name}"]["p99_ms"] >= m["routes"]["GET /v1/collections/{name}"]["p50_ms"]

    prom = c.get("/v1/metrics", params={"format": "prometheus"})
    assert prom.status_code == 200 and prom.headers["content-type"].startswith("text/plain")
    assert 'xmodal_requests_total{status="404"}' in prom.text
    assert 'route="GET /v1/collections/{name}",quantile="0.99"' in prom.text


def test_points_with_different_fields_are_all_or_none(make_client):
    c = make_client()
    spec = {"name": "multi", "vectors": {"v": {"dim": 2}, "w": {"dim": 3}}, "payload_schema": {"year": "int"}}
    assert c.post("/v1/collections", json=spec).status_code == 201
    c.put("/v1/collections/multi/points", json={"points": [{"id": 1, "vectors": {"v": [1, 0]}, "payload": {"year": 1}}]})
    mixed = [{"id": 1, "vectors": {"v": [0, 1]}, "payload": {"year": 2}},                 # replaces row 1
             {"id": 2, "vectors": {"v": [1, 1]}, "payload": {"year": 3}},                 # new row
             {"id": 3, "vectors": {"v": [1, 0], "w": [1, 0, 0]}, "payload": {"year": "bad"}}]  # fails in its batch
    r = c.put("/v1/collections/multi/points", json={"points": mixed})
    assert r.status_code == 400, r.text
    rows = c.post("/v1/collections/multi/points/get", json={"ids": [1, 2, 3], "with_vectors": True}).json()
    assert [row["id"] for row in rows] == [1]
    assert rows[0]["payload"] == {"year": 1} and rows[0]["vectors"]["v"] == [1.0, 0.0]
    ok = c.put("/v1/collections/multi/points", json={"points": mixed[:2] + [{**mixed[2], "payload": {"year": 4}}]})
    assert ok.status_code == 200 and c.get("/v1/collections/multi").json()["count"] == 3
    both = c.post("/v1/collections/multi/search", json={"field": "w", "vector": [1, 0, 0], "k": 5}).json()
    assert [h["id"] for h in both["results"][0]] == [3]
