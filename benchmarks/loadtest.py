"""A bounded load test of the REST server: concurrent text searches and image uploads on loopback.

It stops by itself (after ``--duration`` seconds or ``--max-requests`` requests, whichever first)
and refuses any non-loopback URL, so it can never be pointed at someone else's server. Without
``--url`` it starts ``xmodal serve`` on a temporary database, seeds it with pictures and tears it
down afterwards.

    python -m benchmarks.loadtest --duration 20 --concurrency 8 --upload-share 0.1
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import numpy as np

STAMPS = Path("/usr/share/tuxpaint/stamps")
QUERIES = ["a guitar", "a penguin on the ice", "a slice of pizza", "a yellow banana", "the planet saturn",
           "a red apple", "a dog", "a boat on the sea", "a musical instrument", "something to eat"]
DEFAULT_MODEL = "label-bridge"
SEED_PICTURES = 40
START_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 120.0


def _is_loopback_url(url: str) -> bool:
    from xmodal.server.auth import is_loopback

    host = urlparse(url).hostname or ""
    return is_loopback(host)


def pictures(n: int, seed: int = 0) -> list[Path]:
    files = sorted(p for p in STAMPS.rglob("*.png") if p.stat().st_size < 400_000)
    random.Random(seed).shuffle(files)
    return files[:n]


def unique_png(src: Path, rng: random.Random) -> bytes:
    """The picture with one pixel changed: new content (so the server really indexes it)."""
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("RGB")
        im.putpixel((rng.randrange(im.width), rng.randrange(im.height)),
                    (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_server(db: Path, model: str = DEFAULT_MODEL, threads: int = 1) -> Iterator[str]:
    """``xmodal serve`` in a child process on a free loopback port; killed on exit."""
    import httpx

    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", XMODAL_THREADS=str(threads))
    proc = subprocess.Popen([sys.executable, "-m", "xmodal.cli", "serve", "--db", str(db), "--port", str(port),
                             "--model", model, "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"xmodal serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("xmodal serve did not become healthy")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def seed(url: str, files: list[Path], key: str | None = None, batch: int = 10) -> None:
    import httpx

    headers = {"X-API-Key": key} if key else {}
    for i in range(0, len(files), batch):
        part = [("files", (f.name, f.read_bytes(), "image/png")) for f in files[i:i + batch]]
        r = httpx.post(f"{url}/v1/media/upload", files=part, headers=headers, timeout=REQUEST_TIMEOUT_S)
        r.raise_for_status()


async def _run(url: str, key: str | None, duration: float, concurrency: int, max_requests: int,
               upload_share: float, upload_pool: list[Path], seed_: int) -> dict:
    import httpx

    headers = {"X-API-Key": key} if key else {}
    rng = random.Random(seed_)
    lat: dict[str, list[float]] = {"search": [], "upload": []}
    errors: dict[str, int] = {"search": 0, "upload": 0}
    statuses: dict[str, int] = {}
    issued = 0
    stop_at = time.monotonic() + duration

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal issued
        while time.monotonic() < stop_at and issued < max_requests:
            issued += 1
            op = "upload" if upload_pool and rng.random() < upload_share else "search"
            t0 = time.perf_counter()
            try:
                if op == "search":
                    r = await client.get("/v1/media/search", params={"q": rng.choice(QUERIES), "k": 10})
                else:
                    src = rng.choice(upload_pool)
                    data = unique_png(src, rng)
                    r = await client.post("/v1/media/upload", files={"files": (src.name, data, "image/png")})
                ok = r.status_code < 400
                statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
            except httpx.HTTPError as exc:
                ok = False
                statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
            dt = time.perf_counter() - t0
            if ok:
                lat[op].append(dt)
            else:
                errors[op] += 1

    t_start = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    wall = time.perf_counter() - t_start
    out = {"concurrency": concurrency, "seconds": round(wall, 2), "requests": issued, "statuses": statuses,
           "throughput_rps": round(sum(len(v) for v in lat.values()) / wall, 2)}
    for op, values in lat.items():
        arr = np.asarray(values) * 1000
        out[op] = {"ok": len(values), "errors": errors[op],
                   "p50_ms": round(float(np.percentile(arr, 50)), 1) if len(arr) else None,
                   "p99_ms": round(float(np.percentile(arr, 99)), 1) if len(arr) else None,
                   "rps": round(len(values) / wall, 2)}
    return out


def run_load(url: str, key: str | None = None, duration: float = 20.0, concurrency: int = 8,
             max_requests: int = 5_000, upload_share: float = 0.1, upload_pool: list[Path] | None = None,
             seed_: int = 0) -> dict:
    """Drive ``url`` for at most ``duration`` s / ``max_requests`` requests and report latencies."""
    if not _is_loopback_url(url):
        raise SystemExit(f"loadtest: refusing {url}: only loopback servers may be load-tested")
    return asyncio.run(_run(url, key, duration, concurrency, max_requests, upload_share,
                            upload_pool if upload_pool is not None else pictures(20, seed=99), seed_))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="a running server on loopback (default: start one on a temporary database)")
    ap.add_argument("--key", default=os.environ.get("XMODAL_API_KEY"), help="API key with write scope")
    ap.add_argument("--duration", type=float, default=20.0, help="stop after this many seconds")
    ap.add_argument("--max-requests", type=int, default=5_000, help="stop after this many requests")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--upload-share", type=float, default=0.1, help="fraction of requests that upload an image")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    args = ap.parse_args(argv)
    if args.url:
        result = run_load(args.url, args.key, args.duration, args.concurrency, args.max_requests, args.upload_share)
    else:
        with tempfile.TemporaryDirectory() as tmp, local_server(Path(tmp) / "db.xmdb", args.model) as url:
            seed(url, pictures(SEED_PICTURES))
            result = run_load(url, None, args.duration, args.concurrency, args.max_requests, args.upload_share)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
