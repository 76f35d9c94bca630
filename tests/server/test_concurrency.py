"""Concurrent clients on a live loopback server: searches while uploads index, nothing fails and
every upload is stored exactly once (correctness under load; speed lives in the benchmarks)."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import httpx
from PIL import Image

from tests.server.conftest import KEYS, auth, settings_for
from xmodal.server import create_app
from xmodal.server.live import serve_in_thread

SEARCHERS = 4
SEARCHES_EACH = 5
UPLOADERS = 2
UPLOADS_EACH = 2


def _picture(seed: int) -> bytes:
    img = Image.new("RGB", (96, 72), ((seed * 47) % 256, (seed * 91) % 256, (seed * 13) % 256))
    for x in range(seed % 40, 96, 7):
        for y in range(72):
            img.putpixel((x, y), (255 - seed % 256, 20, 20))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_searches_and_uploads_in_parallel(tmp_path, pictures):
    app = create_app(settings_for(tmp_path, keys=KEYS, model="label-bridge"))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=300) as client:
        seed = [("files", (p.name, p.read_bytes(), "image/png")) for p in pictures.values()]
        assert client.post("/v1/media/upload", files=seed, headers=auth("write-a")).status_code == 201

        def search(i: int) -> list[int]:
            return [client.get("/v1/media/search", params={"q": f"a guitar {j}", "k": 3},
                               headers=auth("read-a")).status_code for j in range(SEARCHES_EACH)]

        def upload(i: int) -> list[int]:
            codes = []
            for j in range(UPLOADS_EACH):
                data = _picture(i * UPLOADS_EACH + j + 1)
                r = client.post("/v1/media/upload", params={"ocr": "false"},
                                files={"files": (f"gen-{i}-{j}.png", data, "image/png")}, headers=auth("write-a"))
                codes.append(r.status_code)
            return codes

        with ThreadPoolExecutor(SEARCHERS + UPLOADERS) as pool:
            searches = [pool.submit(search, i) for i in range(SEARCHERS)]
            uploads = [pool.submit(upload, i) for i in range(UPLOADERS)]
            search_codes = [c for f in searches for c in f.result()]
            upload_codes = [c for f in uploads for c in f.result()]
        assert search_codes == [200] * SEARCHERS * SEARCHES_EACH
        assert upload_codes == [201] * UPLOADERS * UPLOADS_EACH
        info = client.get("/v1/media/info", headers=auth("read-a")).json()
        assert info["by_kind"]["image"] == len(pictures) + UPLOADERS * UPLOADS_EACH
        metrics = client.get("/v1/metrics", headers=auth("read-a")).json()
        assert metrics["errors_5xx"] == 0
