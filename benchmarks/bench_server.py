"""REST server under load on this machine: concurrent text searches and image uploads through
`xmodal serve` (a child process on loopback), against the same searches called in-process on the
same library (the baseline, measured in this run), so the ratio is the cost of HTTP + JSON + auth.

``python -m benchmarks.bench_server`` runs it alone.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.loadtest import DEFAULT_MODEL, QUERIES, local_server, pictures, run_load

SEED_PICTURES = 40
BASELINE_REPEATS = 5
SEARCH_ONLY_S = 12.0
MIXED_S = 25.0
MIXED_CONCURRENCY = 8
UPLOAD_SHARE = 0.1


def _open(db: Path):
    from xmodal.db import connect
    from xmodal.ingest.library import Library

    return Library(connect(str(db)), str(db), "media", model=DEFAULT_MODEL)


def _index(db: Path, files: list[Path]) -> float:
    lib = _open(db)
    t0 = time.perf_counter()
    lib.index([str(f) for f in files], workers=1, progress=False)
    lib.close()
    return time.perf_counter() - t0


def _direct_search_ms(db: Path) -> tuple[float, float]:
    """p50 / p99 of Library.search over the query list, in this process (the server is stopped)."""
    lib = _open(db)
    lib.search(text="warm-up", k=10)
    times = []
    for _ in range(BASELINE_REPEATS):
        for q in QUERIES:
            t = time.perf_counter()
            lib.search(text=q, k=10)
            times.append(time.perf_counter() - t)
    lib.close()
    arr = np.asarray(times) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def run(results_dir: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        seed_dir = Path(tmp) / "seed"
        seed_dir.mkdir()
        files = []
        for i, src in enumerate(pictures(SEED_PICTURES)):
            dst = seed_dir / f"{i:03d}-{src.name}"
            dst.write_bytes(src.read_bytes())
            files.append(dst)
        db = Path(tmp) / "db.xmdb"
        index_s = _index(db, files)
        before = _direct_search_ms(db)
        with local_server(db, DEFAULT_MODEL) as url:
            run_load(url, duration=2, concurrency=1, upload_share=0.0)  # warm-up: model load
            single = run_load(url, duration=SEARCH_ONLY_S, concurrency=1, upload_share=0.0)
            searches = run_load(url, duration=SEARCH_ONLY_S, concurrency=MIXED_CONCURRENCY, upload_share=0.0)
            mixed = run_load(url, duration=MIXED_S, concurrency=MIXED_CONCURRENCY, upload_share=UPLOAD_SHARE)
        after = _direct_search_ms(db)
    # The machine is shared: the baseline is measured before and after the server runs and the
    # faster of the two is kept, so noise cannot flatter the server.
    direct_p50, direct_p99 = min(before, after)
    out = {
        "machine": "2 shared CPU cores, loopback",
        "model": DEFAULT_MODEL, "library_items": SEED_PICTURES, "seed_index_s": round(index_s, 1),
        "baseline_in_process_search": {"p50_ms": round(direct_p50, 1), "p99_ms": round(direct_p99, 1)},
        "search_c1": single, f"search_c{MIXED_CONCURRENCY}": searches, f"mixed_c{MIXED_CONCURRENCY}": mixed,
        "ratios": {
            "http_p50_over_in_process_p50": round(single["search"]["p50_ms"] / direct_p50, 2),
            f"search_throughput_c{MIXED_CONCURRENCY}_over_c1": round(
                searches["throughput_rps"] / max(single["throughput_rps"], 1e-9), 2),
        },
    }
    return out


if __name__ == "__main__":
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    res = run(results)
    (results / "server.json").write_text(json.dumps({"area": "server", **res}, indent=2))
    print(json.dumps(res, indent=2))
