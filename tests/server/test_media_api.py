"""Media over HTTP with the real label-bridge model: upload, search by text / image / speech,
similar items, thumbnails, originals, removal, folder indexing, and namespace isolation."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import KEYS, auth, near_duplicate, settings_for
from xmodal.server import create_app

MODEL = "label-bridge"
A, B = auth("write-a"), auth("admin-b")
MUSIC_DOC = "A guitar is a string instrument, played by strumming or plucking its six strings."


@pytest.fixture(scope="module")
def served(tmp_path_factory, pictures):
    tmp = tmp_path_factory.mktemp("media-server")
    root = tmp / "root"
    root.mkdir()
    (root / "music.txt").write_text(MUSIC_DOC)
    (root / "engines.txt").write_text("Diesel engines power tractors, lorries and ships across the world.")
    app = create_app(settings_for(tmp, keys=KEYS, roots=(str(root),), model=MODEL))
    with TestClient(app, raise_server_exceptions=False) as client:
        files = [("files", (p.name, p.read_bytes(), "image/png")) for p in pictures.values()]
        r = client.post("/v1/media/upload", files=files, headers=A)
        assert r.status_code == 201, r.text
        refs = {subject: r.json()["files"][i]["ref"] for i, subject in enumerate(pictures)}
        yield client, refs, tmp, root


def test_upload_reports_each_file(served, pictures):
    client, refs, tmp, _ = served
    assert all(len(ref) == 32 for ref in refs.values()) and len(set(refs.values())) == len(pictures)
    info = client.get("/v1/media/info", headers=A).json()
    assert info["by_kind"]["image"] == len(pictures) and info["model"] == MODEL
    assert "library" not in info  # no server paths leak
    again = client.post("/v1/media/upload", files={"files": ("copy.png", pictures["guitar"].read_bytes(), "image/png")},
                        headers=A)
    assert again.status_code == 201 and again.json()["files"][0]["ref"] == refs["guitar"]
    assert client.get("/v1/media/info", headers=A).json()["by_kind"]["image"] == len(pictures)


@pytest.mark.parametrize("query, subject", [("a guitar", "guitar"), ("a penguin", "penguin")])
def test_text_query_finds_the_picture(served, query, subject):
    client, refs, _, _ = served
    r = client.get("/v1/media/search", params={"q": query, "k": 3}, headers=A)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results[0]["ref"] == refs[subject] and results[0]["kind"] == "image"
    assert results[0]["score"] >= results[-1]["score"]
    assert "path" not in results[0]["payload"] and results[0]["name"].startswith("picture")


def test_search_by_uploaded_near_duplicate(served, pictures, tmp_path):
    client, refs, _, _ = served
    dup = near_duplicate(pictures["pizza"], tmp_path / "query.jpg")
    r = client.post("/v1/media/search", files={"file": ("query.jpg", dup.read_bytes(), "image/jpeg")},
                    data={"k": "3"}, headers=A)
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["ref"] == refs["pizza"]
    # the query file is not kept on the server
    queries = Path(client.app.state.xmodal.upload_root) / ".queries"
    assert not any(p.is_file() for p in queries.rglob("*"))


def test_kind_filter_and_min_score(served):
    client, refs, _, _ = served
    only_text = client.get("/v1/media/search", params={"q": "a guitar", "kind": "text"}, headers=A).json()["results"]
    assert all(r["kind"] == "text" for r in only_text)
    top = client.get("/v1/media/search", params={"q": "a guitar", "k": 5}, headers=A).json()["results"]
    cut = (top[0]["score"] + top[1]["score"]) / 2
    filtered = client.get("/v1/media/search", params={"q": "a guitar", "k": 5, "min_score": cut}, headers=A).json()
    assert [r["ref"] for r in filtered["results"]] == [top[0]["ref"]]
    bad = client.get("/v1/media/search", params={"q": "x", "kind": "hologram"}, headers=A)
    assert bad.status_code == 400 and "hologram" in bad.json()["error"]["message"]


def test_similar_thumbnail_and_original(served, pictures):
    client, refs, _, _ = served
    sim = client.get("/v1/media/similar", params={"ref": refs["banana"], "k": 3}, headers=A)
    assert sim.status_code == 200 and sim.json()["results"]
    assert refs["banana"] not in [r["ref"] for r in sim.json()["results"]]
    th = client.get("/v1/media/thumbnail", params={"ref": refs["guitar"]}, headers=A)
    assert th.status_code == 200 and th.headers["content-type"] == "image/jpeg"
    from PIL import Image

    assert max(Image.open(io.BytesIO(th.content)).size) <= 512
    orig = client.get("/v1/media/file", params={"ref": refs["guitar"]}, headers=A)
    assert orig.status_code == 200 and orig.content == pictures["guitar"].read_bytes()
    missing = client.get("/v1/media/thumbnail", params={"ref": "0" * 32}, headers=A)
    assert missing.status_code == 404


def test_other_namespaces_cannot_reach_the_media(served):
    client, refs, _, _ = served
    assert client.get("/v1/media/search", params={"q": "a guitar"}, headers=B).status_code == 404
    assert client.get("/v1/media/thumbnail", params={"ref": refs["guitar"]}, headers=B).status_code == 404
    assert client.get("/v1/media/file", params={"ref": refs["guitar"], "namespace": "app-a"}, headers=B).status_code == 403
    granted = client.get("/v1/media/search", params={"q": "a guitar", "namespace": "app-a"},
                         headers=auth("reader-b-granted-a"))
    assert granted.status_code == 200 and granted.json()["results"][0]["ref"] == refs["guitar"]


def test_index_a_root_folder_and_search_by_speech(served, speech_clip):
    client, refs, _, root = served
    r = client.post("/v1/media/index", json={"path": "."}, headers=auth("admin-a"))
    assert r.status_code == 200, r.text
    assert r.json()["report"]["indexed"]["text"] == 2 and r.json()["path"] == "."
    hits = client.get("/v1/media/search", params={"q": "diesel engine", "kind": "text"}, headers=A).json()["results"]
    assert hits[0]["name"] == "engines.txt" and hits[0]["evidence"].get("text")
    spoken = client.post("/v1/media/search", files={"file": ("clip.wav", speech_clip.read_bytes(), "audio/wav")},
                         data={"kind": "text"}, headers=A)
    assert spoken.status_code == 200, spoken.text
    assert "guitar" in (spoken.json()["query_text"] or "").lower() and spoken.json()["query_language"] == "en"
    assert spoken.json()["results"][0]["name"] == "music.txt"
    original = client.get("/v1/media/file", params={"ref": hits[0]["ref"]}, headers=A)
    assert original.status_code == 200 and b"Diesel" in original.content


def test_remove_deletes_the_item_and_its_upload(served, tmp_path):
    client, refs, tmp, _ = served
    from PIL import Image

    img = tmp_path / "extra.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(img)
    up = client.post("/v1/media/upload", files={"files": ("extra.png", img.read_bytes(), "image/png")}, headers=A)
    ref = up.json()["files"][0]["ref"]
    stored = [p for p in (tmp / "uploads").rglob("*.png") if p.read_bytes() == img.read_bytes()]
    assert len(stored) == 1
    assert client.delete("/v1/media", params={"ref": ref}, headers=auth("read-a")).status_code == 403
    assert client.delete("/v1/media", params={"ref": ref}, headers=A).status_code == 200
    assert not stored[0].exists()
    assert client.get("/v1/media/thumbnail", params={"ref": ref}, headers=A).status_code == 404
    assert client.get("/v1/metrics", headers=A).json()["indexed_files"] >= 6


def test_undecodable_upload_is_refused_without_leaking_server_paths(served):
    client, refs, tmp, _ = served
    before = client.get("/v1/media/info", headers=A).json()["items"]
    broken = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\xff" * 64   # PNG magic, corrupt body
    r = client.post("/v1/media/upload", files={"files": ("broken.png", broken, "image/png")}, headers=A)
    assert r.status_code == 415, r.text
    message = r.json()["error"]["message"]
    assert "broken.png" in message and str(tmp) not in message
    assert client.get("/v1/media/info", headers=A).json()["items"] == before
    assert not [p for p in (tmp / "uploads").rglob("broken*")]


def test_background_index_job(served):
    import time

    client, refs, _, root = served
    (root / "later").mkdir()
    (root / "later" / "boats.txt").write_text("Sailing boats race across the harbour on windy afternoons.")
    r = client.post("/v1/media/index", json={"path": "later", "background": True}, headers=auth("admin-a"))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("queued", "running", "done") and job["kind"] == "index"
    assert client.get(f"/v1/media/jobs/{job['id']}", headers=B).status_code == 404  # other namespace
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = client.get(f"/v1/media/jobs/{job['id']}", headers=A).json()
    assert job["state"] == "done", job
    assert job["result"]["report"]["indexed"]["text"] == 1 and job["result"]["path"] == "later"
    hits = client.get("/v1/media/search", params={"q": "sailing boats", "kind": "text"}, headers=A).json()["results"]
    assert hits[0]["name"] == "boats.txt"


def test_speech_recorded_as_webm_is_a_valid_query(served, speech_clip, tmp_path):
    import subprocess

    client, refs, _, _ = served
    webm = tmp_path / "recording.webm"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(speech_clip), "-c:a", "libopus", str(webm)], check=True)
    r = client.post("/v1/media/search", files={"file": (webm.name, webm.read_bytes(), "audio/webm")}, headers=A)
    assert r.status_code == 200, r.text
    assert "guitar" in (r.json()["query_text"] or "").lower()


def test_a_calibrated_library_cuts_junk_by_default_and_lists_everything_when_asked(tmp_path, pictures):
    """The API (and so the page) applies the library's default relevance cut, as the CLI does: a query
    that matches nothing gets an empty list ("no good match"), not the least bad pictures;
    ``min_relevance=0`` lists them, and a real match is kept."""
    app = create_app(settings_for(tmp_path, keys=KEYS, model="xmodal-lite"))
    with TestClient(app, raise_server_exceptions=False) as client:
        files = [("files", (p.name, p.read_bytes(), "image/png")) for p in pictures.values()]
        assert client.post("/v1/media/upload", files=files, headers=A).status_code == 201
        junk = "quarterly budget spreadsheet for office rent"
        cut = client.get("/v1/media/search", params={"q": junk, "k": 5}, headers=A).json()["results"]
        everything = client.get("/v1/media/search", params={"q": junk, "k": 5, "min_relevance": 0}, headers=A)
        assert cut == [] and len(everything.json()["results"]) == len(pictures)
        assert all(r["relevance"] < 0.1 for r in everything.json()["results"])
        found = client.post("/v1/media/search", data={"text": "a penguin", "k": "3"}, headers=A).json()["results"]
        assert found and found[0]["relevance"] >= 0.1 and all(r["relevance"] >= 0.1 for r in found)
        bad = client.get("/v1/media/search", params={"q": "a penguin", "min_relevance": 2}, headers=A)
        assert bad.status_code in (400, 422)
