"""`make bench` for the vector database: xmodal against raw FAISS, hnswlib and the peers.

Writes ``benchmarks/results/db.json`` (through benchmarks/run.py), ``db_recall_qps.png`` and the
``## Vector database`` section of BENCHMARKS.md. ``XMODAL_BENCH_N=20000`` makes a quick run.
"""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from benchmarks.db_data import load
from benchmarks.db_kind import run_kind
from benchmarks.db_peers import PEERS, run_peer
from benchmarks.db_report import evaluate_targets, plot_recall_qps, write_markdown
from benchmarks.db_settings import BenchDBSettings
from benchmarks.db_systems import KINDS


def run(results_dir: Path) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    s = BenchDBSettings()
    t0 = time.perf_counter()
    ds = load(s.data, s.cache)
    only_kinds = [k for k in os.environ.get("XMODAL_BENCH_KINDS", ",".join(KINDS)).split(",") if k]
    only_peers = [p for p in os.environ.get("XMODAL_BENCH_PEERS", ",".join(PEERS)).split(",") if p]
    out: dict = {
        "dataset": ds.description, "n": ds.n, "dim": s.data.dim, "queries": len(ds.queries), "k": s.data.k,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
        "threads": s.sweep.threads, "batch": s.sweep.batch, "data_s": round(time.perf_counter() - t0, 1),
        "kinds": {}, "peers": {},
    }
    for kind in only_kinds:
        print(f"[bench db] {kind} ...", flush=True)
        out["kinds"][kind] = run_kind(kind, s)
        print(f"[bench db] {kind}: {out['kinds'][kind].get('process_s', out['kinds'][kind].get('error'))}", flush=True)
    for peer in only_peers:
        print(f"[bench db] peer {peer} ...", flush=True)
        t1 = time.perf_counter()
        out["peers"][peer] = run_peer(peer, ds.folder, s)
        out["peers"][peer]["process_s"] = round(time.perf_counter() - t1, 1)
        print(f"[bench db] peer {peer}: {out['peers'][peer].get('error', 'ok')}", flush=True)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["targets"] = evaluate_targets(out, s)
    plot = results_dir / "db_recall_qps.png"
    plot_recall_qps(out, plot)
    out["plot"] = plot.name
    write_markdown(out, results_dir.parent.parent / "BENCHMARKS.md")
    return out
