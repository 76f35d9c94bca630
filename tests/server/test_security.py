"""Keys, scopes, namespaces, traversal, oversize and mistyped uploads: each refused with the right
status and nothing changed. None of these needs a model: refusals happen before any encoding."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import KEYS, auth
from xmodal.config import ApiKey
from xmodal.errors import Forbidden
from xmodal.server.auth import KeyRing, check_bind_safety, hash_key

SPEC = {"name": "notes", "vectors": {"v": {"dim": 2}}, "payload_schema": {"tag": "str"}}
POINT = {"points": [{"id": 1, "vectors": {"v": [1.0, 0.0]}, "payload": {"tag": "x"}}]}


@pytest.fixture
def secured(make_client):
    return make_client(keys=KEYS)


def test_missing_or_wrong_key_is_401(secured):
    for headers in ({}, auth("nope"), {"Authorization": "Bearer nope"}, {"Authorization": "Basic YTpi"}):
        r = secured.get("/v1/collections", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"]["code"] == "unauthorized"
        assert "WWW-Authenticate" in r.headers
    assert secured.get("/v1/collections", headers={"Authorization": "Bearer read-a"}).status_code == 200
    assert secured.get("/v1/health").status_code == 200  # liveness needs no key


def test_scopes_are_enforced_and_refusals_change_nothing(secured):
    r = secured.post("/v1/collections", json=SPEC, headers=auth("write-a"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden" and "admin" in r.json()["error"]["message"]
    assert secured.get("/v1/collections", headers=auth("admin-a")).json()["collections"] == []
    assert secured.post("/v1/collections", json=SPEC, headers=auth("admin-a")).status_code == 201
    assert secured.put("/v1/collections/notes/points", json=POINT, headers=auth("read-a")).status_code == 403
    assert secured.get("/v1/collections/notes", headers=auth("read-a")).json()["count"] == 0
    assert secured.put("/v1/collections/notes/points", json=POINT, headers=auth("write-a")).status_code == 200
    assert secured.post("/v1/collections/notes/points/delete", json={"ids": [1]}, headers=auth("read-a")).status_code == 403
    assert secured.delete("/v1/collections/notes", headers=auth("write-a")).status_code == 403
    assert secured.get("/v1/collections/notes", headers=auth("read-a")).json()["count"] == 1


def test_namespaces_isolate_applications(secured):
    assert secured.post("/v1/collections", json=SPEC, headers=auth("admin-a")).status_code == 201
    secured.put("/v1/collections/notes/points", json=POINT, headers=auth("admin-a"))
    # app-b neither sees nor reaches app-a's collection, by name or through ?namespace=
    assert secured.get("/v1/collections", headers=auth("admin-b")).json()["collections"] == []
    assert secured.get("/v1/collections/notes", headers=auth("admin-b")).status_code == 404
    r = secured.get("/v1/collections/notes?namespace=app-a", headers=auth("admin-b"))
    assert r.status_code == 403
    assert secured.post("/v1/collections/notes/search?namespace=app-a", json={"vector": [1, 0]},
                        headers=auth("admin-b")).status_code == 403
    assert secured.delete("/v1/collections/notes?namespace=app-a", headers=auth("admin-b")).status_code == 403
    # app-b creates its own "notes": a different collection
    assert secured.post("/v1/collections", json=SPEC, headers=auth("admin-b")).status_code == 201
    assert secured.get("/v1/collections/notes", headers=auth("admin-b")).json()["count"] == 0
    # a granted key reads app-a but cannot write there
    granted = auth("reader-b-granted-a")
    assert secured.get("/v1/collections?namespace=app-a", headers=granted).json()["collections"] == ["notes"]
    hits = secured.post("/v1/collections/notes/search?namespace=app-a", json={"vector": [1, 0]}, headers=granted)
    assert hits.status_code == 200 and hits.json()["results"][0][0]["id"] == 1
    assert secured.put("/v1/collections/notes/points?namespace=app-a", json=POINT, headers=granted).status_code == 403
    assert secured.get("/v1/collections/notes", headers=auth("admin-a")).json()["count"] == 1
    bad_ns = secured.get("/v1/collections?namespace=../app-a", headers=granted)
    assert bad_ns.status_code in (400, 403)


def test_hashed_keys_and_bad_key_files(tmp_path):
    ring = KeyRing([ApiKey(key=hash_key("s3cret"), scopes=("write",), namespace="n1")])
    who = ring.authenticate("s3cret")
    assert who.namespace == "n1" and who.has_scope("read") and not who.has_scope("admin")
    from xmodal.errors import InvalidInput, Unauthorized
    from xmodal.server.auth import load_keys_file

    with pytest.raises(Unauthorized):
        ring.authenticate("S3cret")
    with pytest.raises(InvalidInput, match="scope"):
        KeyRing([ApiKey(key="k", scopes=("root",))])
    bad = tmp_path / "keys.json"
    bad.write_text('{"key": "not a list"}')
    with pytest.raises(InvalidInput, match="keys.json"):
        load_keys_file(bad)


def test_refuses_public_bind_without_keys(tmp_path):
    from tests.server.conftest import settings_for

    s = settings_for(tmp_path)
    check_bind_safety(s, "127.0.0.1")
    check_bind_safety(s, "::1")
    with pytest.raises(Forbidden, match="0.0.0.0"):
        check_bind_safety(s, "0.0.0.0")
    check_bind_safety(settings_for(tmp_path, keys=KEYS), "0.0.0.0")
    check_bind_safety(settings_for(tmp_path, allow_open_public=True), "0.0.0.0")
    proc = subprocess.run([sys.executable, "-m", "xmodal.cli", "serve", "--db", str(tmp_path / "d"), "--host", "0.0.0.0",
                           "--port", "1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "without API keys" in proc.stderr


@pytest.fixture
def rooted(tmp_path, make_client):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "note.txt").write_text("inside the root")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("must never be indexed")
    os.symlink(outside, root / "link-out")
    os.symlink(outside / "secret.txt", root / "file-link-out.txt")
    client = make_client(keys=KEYS, roots=(str(root),))
    return client, root, outside


@pytest.mark.parametrize("path", [
    "../outside", "../outside/secret.txt", "sub/../../outside", "%2e%2e/outside", "..%2Foutside",
    "link-out", "link-out/secret.txt", "file-link-out.txt", "/etc/passwd", "/etc", "sub/\x00", "",
])
def test_index_refuses_paths_outside_roots(rooted, path):
    client, root, outside = rooted
    r = client.post("/v1/media/index", json={"path": path}, headers=auth("admin-a"))
    assert r.status_code in (400, 403, 404, 422), (path, r.text)
    if r.status_code in (400, 403, 404):
        assert r.json()["error"]["code"] in ("forbidden", "invalid_input", "not_found")
    assert r.json()["error"]["message"]
    assert client.get("/v1/collections", headers=auth("admin-a")).json()["collections"] == []


def test_absolute_path_to_encoded_traversal_target_is_refused(rooted):
    client, root, outside = rooted
    r = client.post("/v1/media/index", json={"path": str(root / ".." / "outside")}, headers=auth("admin-a"))
    assert r.status_code == 403
    assert client.post("/v1/media/index", json={"path": "sub"}, headers=auth("write-a")).status_code == 403


def test_oversize_uploads_are_413_and_store_nothing(make_client, tmp_path):
    c = make_client(keys=KEYS, max_upload_bytes=50_000, max_request_bytes=200_000)
    png = _png_bytes(120_000)
    r = c.post("/v1/media/upload", files={"files": ("big.png", png, "image/png")}, headers=auth("write-a"))
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large" and "big.png" in r.json()["error"]["message"]
    huge = b"\x89PNG\r\n\x1a\n" + b"\0" * 300_000
    r = c.post("/v1/media/upload", files={"files": ("huge.png", huge, "image/png")}, headers=auth("write-a"))
    assert r.status_code == 413
    r = c.put("/v1/collections/x/points", content=b"[" + b" " * 300_000 + b"]",
              headers={**auth("write-a"), "content-type": "application/json"})
    assert r.status_code == 413
    assert _stored_files(tmp_path / "uploads") == []
    assert c.get("/v1/collections", headers=auth("admin-a")).json()["collections"] == []


def test_uploads_are_typed_by_content(make_client, tmp_path):
    c = make_client(keys=KEYS)
    cases = [("photo.png", b"MZ\x90\x00" + os.urandom(2000)),           # an executable named .png
             ("notes.png", b"#!/bin/sh\nrm -rf /\n" * 50),               # a script named .png
             ("archive.jpg", b"PK\x03\x04" + os.urandom(2000)),          # a zip named .jpg
             ("empty.png", b"")]
    for name, data in cases:
        r = c.post("/v1/media/upload", files={"files": (name, data, "image/png")}, headers=auth("write-a"))
        assert r.status_code in (400, 415), (name, r.text)
        assert name in r.json()["error"]["message"]
    assert _stored_files(tmp_path / "uploads") == []
    assert c.get("/v1/collections", headers=auth("admin-a")).json()["collections"] == []
    assert c.post("/v1/media/upload", files={"files": ("a.png", _png_bytes(100), "image/png")},
                  headers=auth("read-a")).status_code == 403


@pytest.mark.parametrize("ref", ["../../etc/passwd", "%2e%2e%2fetc", "/etc/passwd", "uploads/../x", "a" * 200])
def test_media_refs_cannot_traverse(make_client, ref):
    c = make_client(keys=KEYS)
    for route in ("thumbnail", "file", "similar"):
        r = c.get(f"/v1/media/{route}", params={"ref": ref}, headers=auth("read-a"))
        assert r.status_code in (400, 422), (route, ref, r.status_code)


@pytest.mark.parametrize("url", ["/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                                 "/static/..%2f..%2f..%2fetc%2fpasswd", "/static//etc/passwd"])
def test_static_files_cannot_traverse(make_client, url):
    r = make_client().get(url)
    assert r.status_code in (400, 404) and "root:" not in r.text


def test_page_sends_a_strict_content_security_policy(make_client):
    r = make_client().get("/")
    assert r.status_code == 200 and "<title>" in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "http" not in csp
    assert "cdn" not in r.text.lower() and "https://" not in r.text


def _png_bytes(approx_size: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    side = max(8, int((approx_size / 3) ** 0.5))
    arr = np.random.default_rng(0).integers(0, 255, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=0)
    return buf.getvalue()


def _stored_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_namespaced_collections_stay_out_of_the_default_namespace(make_client):
    c = make_client(keys=KEYS + (ApiKey(key="root", scopes=("admin",)),))
    assert c.post("/v1/collections", json=SPEC, headers=auth("admin-a")).status_code == 201
    assert c.get("/v1/collections", headers=auth("root")).json() == {"namespace": "default", "collections": []}
    stored = c.app.state.xmodal.db.list_collections()
    assert stored == ["ns_app_a__notes"]
    r = c.get(f"/v1/collections/{stored[0]}", headers=auth("root"))  # the reserved prefix cannot be named
    assert r.status_code == 400


def test_a_root_that_is_not_a_folder_is_refused_at_start(tmp_path):
    from xmodal.errors import InvalidInput
    from xmodal.server import create_app
    from tests.server.conftest import settings_for

    (tmp_path / "file.txt").write_text("x")
    for bad in (tmp_path / "missing", tmp_path / "file.txt"):
        with pytest.raises(InvalidInput, match="not a folder"):
            create_app(settings_for(tmp_path, roots=(str(bad),)))
