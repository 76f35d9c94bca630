"""The same API over the Milvus backend (Milvus Lite): namespaced names must be Milvus-safe."""
from __future__ import annotations

import dataclasses

from fastapi.testclient import TestClient

from tests.server.conftest import KEYS, auth
from xmodal.config import CONFIG
from xmodal.server import create_app


def test_namespaced_collections_over_milvus_lite(tmp_path):
    settings = dataclasses.replace(CONFIG.server, db=f"milvus-lite:{tmp_path}/m.db", keys=KEYS,
                                   upload_dir=str(tmp_path / "uploads"))
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        spec = {"name": "notes", "vectors": {"v": {"dim": 2}}, "payload_schema": {"tag": "str"}}
        assert c.post("/v1/collections", json=spec, headers=auth("admin-a")).status_code == 201
        pts = {"points": [{"id": 1, "vectors": {"v": [1, 0]}, "payload": {"tag": "x"}},
                          {"id": 2, "vectors": {"v": [0, 1]}, "payload": {"tag": "y"}}]}
        assert c.put("/v1/collections/notes/points", json=pts, headers=auth("write-a")).status_code == 200
        hits = c.post("/v1/collections/notes/search", json={"vector": [1, 0.1], "where": {"tag": "x"}},
                      headers=auth("read-a")).json()["results"][0]
        assert [h["id"] for h in hits] == [1]
        assert c.get("/v1/collections", headers=auth("admin-b")).json()["collections"] == []
        assert c.get("/v1/collections/notes", headers=auth("admin-b")).status_code == 404
        bad = c.put("/v1/collections/notes/points", json={"points": [{"id": 3, "vectors": {"v": [1, 2, 3]}}]},
                    headers=auth("write-a"))
        assert bad.status_code == 400
        assert c.get("/v1/collections/notes", headers=auth("read-a")).json()["count"] == 2
        assert c.delete("/v1/collections/notes", headers=auth("admin-a")).status_code == 204
