"""Question answering and recommendation over HTTP, on a real library (label-bridge model)."""
from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import KEYS, auth, find_stamp, settings_for
from xmodal.server import create_app

W, R, B = auth("write-a"), auth("read-a"), auth("admin-b")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("apps-server")
    root = tmp / "root"
    root.mkdir()
    (root / "music.txt").write_text("A guitar is a string instrument, played by strumming or plucking its six strings.")
    (root / "engines.txt").write_text("Diesel engines power tractors, lorries and ships across the world.")
    shutil.copy(find_stamp("animals/birds/penguin.png"), root / "bird.png")
    shutil.copy(find_stamp("hobbies/music/string/guitar_classical.png"), root / "instrument.png")
    app = create_app(settings_for(tmp, keys=KEYS, roots=(str(root),), model="label-bridge"))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/v1/media/index", json={"path": ".", "ocr": False}, headers=auth("admin-a"))
        assert r.status_code == 200, r.text
        hits = client.get("/v1/media/search", params={"q": "x", "k": 10}, headers=R).json()["results"]
        refs = {h["name"]: h["ref"] for h in hits}
        assert len(refs) == 4
        yield client, refs


def test_ask_answers_with_evidence_refs(site):
    client, refs = site
    r = client.post("/v1/apps/ask", json={"question": "How many strings does a guitar have?"}, headers=R)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["found"] and "six strings" in body["answer"] and body["citations"] == [1]
    top = body["evidence"][0]
    assert top["ref"] == refs["music.txt"] and top["name"] == "music.txt" and top["source"] == "passage"
    assert all("path" not in e and "thumbnail" not in e for e in body["evidence"])
    bad = client.post("/v1/apps/ask", json={"question": ""}, headers=R)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    assert client.post("/v1/apps/ask", json={"question": "guitar?"}, headers=B).status_code == 404


def test_interactions_drive_recommendations_per_namespace(site):
    client, refs = site
    like = {"user": "ann", "ref": refs["bird.png"], "event": "like"}
    assert client.post("/v1/apps/interactions", json=like, headers=R).status_code == 403
    r = client.post("/v1/apps/interactions", json=like, headers=W)
    assert r.status_code == 201, r.text
    recs = client.get("/v1/apps/users/ann/recommendations", params={"k": 3}, headers=R)
    assert recs.status_code == 200, recs.text
    got = recs.json()
    assert got and refs["bird.png"] not in [g["ref"] for g in got]  # seen items are excluded
    assert got[0]["kind"] == "image" and got[0]["because"] == refs["bird.png"]
    missing = client.post("/v1/apps/interactions", json={**like, "ref": "f" * 32}, headers=W)
    assert missing.status_code == 404
    assert client.get("/v1/apps/users/ann/recommendations", headers=B).status_code == 404
    gone = client.delete("/v1/apps/users/ann", headers=W)
    assert gone.status_code == 200 and gone.json()["events_removed"] == 1


def test_media_answers_name_items_not_server_paths(site):
    client, refs = site
    body = client.post("/v1/apps/ask", json={"question": "what does a penguin look like?", "kind": ["image"]},
                       headers=R).json()
    assert body["evidence"] and body["evidence"][0]["ref"] == refs["bird.png"]
    assert body["answer"] is None or ("/" not in body["answer"] and "bird.png" in body["answer"])
