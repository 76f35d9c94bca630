"""`xmodal serve`, `xmodal index` and `xmodal search` on one library at once, as three real
processes: the server holds no writer lock while idle, sees what the other process indexed, and
indexes a folder itself once that writer is done. Synchronised on events (a paused batch, a
process's exit, a job's state), with deadlines only as failure guards."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

from xmodal.ingest.hashing import content_hash

MODEL = "efficientnet-lite0"  # an image tower: quick to load in three processes
ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NO_COLOR": "1",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
DEADLINE_S = 120  # a guard against hanging for ever, never what the test waits for


def _pictures(folder: Path, n: int, seed: int) -> list[Path]:
    folder.mkdir(parents=True)
    out = []
    for i in range(n):
        j = i * 7 + seed * 100
        img = Image.new("RGB", (96, 96), ((j * 37) % 256, (j * 91) % 256, (j * 53) % 256))
        draw = ImageDraw.Draw(img)
        draw.ellipse([j % 30, j % 20, 50 + j % 40, 60 + j % 30], fill=(255 - j % 256, 60 + j % 150, 200))
        draw.line([0, j % 96, 95, (j * 3) % 96], fill=(j % 256, 255, 0), width=4)
        out.append(folder / f"pic-{seed}-{i}.png")
        img.save(out[-1])
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xmodal.cli", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**ENV, **kw})


def _wait_for_line(proc: subprocess.Popen, needle: str) -> None:
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if needle in line:
            return
    proc.wait(timeout=60)
    raise AssertionError(f"exited ({proc.returncode}) before printing {needle!r}:\n{''.join(seen)}")


def _until(what: str, check):
    """Poll ``check`` (a server answer) until it returns something truthy; fail after the guard."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


class Server:
    def __init__(self, db: Path, root: Path):
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.proc = _cli("serve", "--db", str(db), "--root", str(root), "--model", MODEL,
                         "--port", self.url.rsplit(":", 1)[1], "--log-level", "warning")
        self.statuses: list[int] = []

    def wait_ready(self) -> None:
        def up():
            assert self.proc.poll() is None, self.proc.stderr.read()
            try:
                return httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        _until("the server to answer", up)

    def request(self, method: str, path: str, **kw) -> httpx.Response:
        r = httpx.request(method, f"{self.url}{path}", timeout=60, **kw)
        self.statuses.append(r.status_code)
        assert r.status_code < 400, r.text
        return r

    def top_ref(self, picture: Path) -> str | None:
        with open(picture, "rb") as fh:
            r = self.request("POST", "/v1/media/search", files={"file": (picture.name, fh, "image/png")},
                             data={"k": "1"})
        results = r.json()["results"]
        return results[0]["ref"] if results else None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def test_serve_index_and_search_at_once(tmp_path):
    root = tmp_path / "media"
    second = _pictures(root / "second", 4, seed=2)
    third = _pictures(root / "third", 3, seed=3)
    db = tmp_path / "lib.xmdb"
    server = Server(db, root)  # a new library: the server creates it and keeps no writer lock
    try:
        server.wait_ready()
        # Process 2 writes although the server has the library open, and pauses after its
        # first batch (all of `second`), holding the writer lock.
        indexer = _cli("index", str(root / "second"), "--db", str(db), "--model", MODEL, "--no-ocr", "--json",
                       XMODAL_PAUSE_AFTER_BATCH="1")
        try:
            _wait_for_line(indexer, "paused after batch 1")
            # The server asks to index a folder itself: its job waits for the writer lock.
            job = server.request("POST", "/v1/media/index",
                                 json={"path": str(root / "third"), "ocr": False, "background": True}).json()
            # Process 3 reads what process 2 wrote while both writers wait, and so does the server.
            search = subprocess.run([sys.executable, "-m", "xmodal.cli", "search", "--image", str(second[1]),
                                     "--db", str(db), "--json", "-k", "1", "--min-relevance", "0"],
                                    capture_output=True, text=True, env=ENV, timeout=300)
            assert search.returncode == 0, search.stderr
            assert Path(json.loads(search.stdout)[0]["path"]).name == second[1].name
            for pic in second:
                _until(f"{pic.name} in the server's results", lambda: server.top_ref(pic) == content_hash(pic))
            polled = server.request("GET", f"/v1/media/jobs/{job['id']}").json()
            assert polled["state"] in ("queued", "running"), polled
            assert polled["progress"]["state"].startswith("waiting"), polled
            indexer.stdin.write("\n")
            indexer.stdin.flush()
            stdout, stderr = indexer.communicate(timeout=300)
        finally:
            indexer.kill()
            indexer.wait()
        assert indexer.returncode == 0, stderr
        assert json.loads(stdout)["encoded"] == len(second)
        # The server's own job runs once the lock is free, and reports what it wrote.
        done = _until("the server's index job", lambda: (lambda j: j if j["state"] in ("done", "failed") else None)(
            server.request("GET", f"/v1/media/jobs/{job['id']}").json()))
        assert done["state"] == "done", done["error"]
        assert done["result"]["report"]["encoded"] == len(third)
        assert done["progress"]["items_written"] == len(third)
        for pic in third:
            assert server.top_ref(pic) == content_hash(pic)
        # ...and holds no writer lock afterwards: another process indexes at once, without waiting,
        # and the server sees that too.
        extra = _pictures(root / "fourth", 2, seed=4)
        out = subprocess.run([sys.executable, "-m", "xmodal.cli", "index", str(root / "fourth"), "--db", str(db),
                              "--no-ocr", "--json"], capture_output=True, text=True, env=ENV, timeout=300)
        assert out.returncode == 0 and "waiting" not in out.stderr, out.stderr
        for pic in extra:
            _until(f"{pic.name} in the server's results", lambda: server.top_ref(pic) == content_hash(pic))
        assert server.statuses and all(s < 400 for s in server.statuses)
    finally:
        server.stop()
