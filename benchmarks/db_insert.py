"""Streaming inserts and memory per index kind, side by side in one run (issue 16, items 1-2).

For each kind, in its own process (so its memory is measured from a clean start): upserts in
batches of ``upsert_batch`` with payloads, each committed to disk, through the public API. Reports

- ``upsert_rate``: rows/s until the last upsert returned (every row durable and searchable);
- ``indexed_rate``: rows/s until ``wait_for_maintenance()`` returned (the background folder and
  any training done: every row inside the ANN index);
- right after the last upsert: recall@10 against the exact answer and the share of the last
  batch's rows found first by their own vector;
- memory in bytes per vector: RSS growth after the build and again after a pass of every query
  (1,000 queries, batches of 100: re-ranking and exact scans map what they read), split into
  anonymous memory (the process's own) and file pages (the exact store's arena, served by the
  page cache: clean, reclaimable); the database folder's size (SQLite + index snapshots) and the
  arena file (unlinked, so not in the folder); for hnsw also raw FAISS ``IndexHNSWFlat`` with the
  same rows and M, for the memory ratio.

Ratios against ``flat`` (the exact store only: the cheapest possible write path) come from the
same run. ``python -m benchmarks.db_insert`` writes ``benchmarks/results/db_insert.json``;
``XMODAL_BENCH_N`` sets the rows (default 50,000), ``XMODAL_BENCH_KINDS`` the kinds.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.db_data import load
from benchmarks.db_measure import rss_mb
from benchmarks.db_settings import REPO, BenchDBSettings, DataSettings
from benchmarks.db_systems import Xmodal, kind_specs

DEFAULT_KINDS = ("flat", "hnsw", "ivf_flat", "sq8", "pq", "ivf_pq")
RESULTS = REPO / "benchmarks" / "results" / "db_insert.json"


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def rss_split() -> dict[str, float]:
    """Resident MiB of this process: anonymous and file-backed (Linux /proc)."""
    rss_mb()  # (collects garbage first)
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("RssAnon", "RssFile")):
            key, value = line.split(":")
            out[key] = int(value.split()[0]) / 1024
    return out


def per_vector(now: dict, before: dict, n: int) -> dict:
    anon = (now["RssAnon"] - before["RssAnon"]) * 2**20 / n
    file = (now["RssFile"] - before["RssFile"]) * 2**20 / n
    return {"anon": round(anon, 1), "file": round(file, 1), "total": round(anon + file, 1)}


def measure(kind: str) -> dict:
    s = BenchDBSettings()
    ds = load(s.data, s.cache)
    spec = kind_specs(s)[kind]
    out: dict = {"kind": kind, "params": spec.params, "n": ds.n}
    if kind == "hnsw":  # raw FAISS first, freed before xmodal starts: its RSS growth is the yardstick
        import faiss

        r0 = rss_mb()
        split0 = rss_split()
        index = faiss.IndexHNSWFlat(ds.base.shape[1], spec.params["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = spec.params["ef_construction"]
        t0 = time.perf_counter()
        index.add(ds.base)
        out["faiss_hnsw"] = {"rate": round(ds.n / (time.perf_counter() - t0), 1),
                             "rss_bytes_per_vector": round((rss_mb() - r0) * 2**20 / ds.n, 1),
                             "rss_split_per_vector": per_vector(rss_split(), split0, ds.n)}
        del index
    before = rss_split()
    xm = Xmodal(spec, ds.base, ds.pct, s.cache / "work" / f"insert-{kind}", s, ds.queries, ds.gt)
    built = rss_split()
    for lo in range(0, len(ds.queries), 100):
        xm.search(ds.queries[lo:lo + 100], {})
    out["rss_after_build_per_vector"] = per_vector(built, before, ds.n)
    out["rss_after_queries_per_vector"] = per_vector(rss_split(), before, ds.n)
    out.update({"upsert_rate": round(xm.upsert_rate, 1), "indexed_rate": round(xm.indexed_rate, 1),
                "ack_s": round(xm.ack_s, 2), "build_s": round(xm.build_s, 2),
                "after_last_upsert": xm.fresh,
                "rss_bytes_per_vector": round(xm.rss_delta_mb * 2**20 / ds.n, 1)})
    xm.col.flush()
    out["disk_bytes_per_vector"] = round(_folder_bytes(xm.folder) / ds.n, 1)
    out["arena_bytes_per_vector"] = 4 * ds.base.shape[1]  # the unlinked page-cache file beside it
    xm.close()
    return out


def run(kinds: list[str]) -> dict:
    os.environ.setdefault("XMODAL_BENCH_N", "50000")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    load(DataSettings(), BenchDBSettings().cache)  # generate (and cache) the data once, up front
    results: dict = {}
    for kind in kinds:
        print(f"[db_insert] {kind} ...", flush=True)
        proc = subprocess.run([sys.executable, "-m", "benchmarks.db_insert", "--one", kind], cwd=REPO,
                              capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        results[kind] = json.loads(lines[-1]) if proc.returncode == 0 and lines else \
            {"kind": kind, "error": proc.stderr.strip()[-800:]}
        print(f"[db_insert] {kind}: {results[kind]}", flush=True)
    flat = results.get("flat", {})
    for kind, r in results.items():
        if "error" in r or "error" in flat or not flat:
            continue
        r["upsert_vs_flat"] = round(r["upsert_rate"] / flat["upsert_rate"], 3)
        r["rss_vs_flat_after_queries"] = round(r["rss_after_queries_per_vector"]["total"]
                                               / flat["rss_after_queries_per_vector"]["total"], 3)
        r["anon_vs_flat_after_queries"] = round(r["rss_after_queries_per_vector"]["anon"]
                                                / flat["rss_after_queries_per_vector"]["anon"], 3)
        if "faiss_hnsw" in r:
            r["rss_vs_faiss_hnsw_after_queries"] = round(r["rss_after_queries_per_vector"]["total"]
                                                         / r["faiss_hnsw"]["rss_bytes_per_vector"], 3)
    out = {"area": "db_insert", "n": int(os.environ["XMODAL_BENCH_N"]), "dim": DataSettings().dim,
           "batch": BenchDBSettings().sweep.upsert_batch, "kinds": results,
           "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                    text=True).stdout.strip()}
    RESULTS.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(json.dumps(measure(sys.argv[2])), flush=True)
    else:
        chosen = [k for k in os.environ.get("XMODAL_BENCH_KINDS", ",".join(DEFAULT_KINDS)).split(",") if k]
        run(chosen)
