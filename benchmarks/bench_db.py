"""`make bench` for the vector database: xmodal against raw FAISS, hnswlib and the peers.

Writes ``benchmarks/results/db.json`` (also through benchmarks/run.py), ``db_recall_qps.png`` and
the ``## Vector database`` section of BENCHMARKS.md, refreshed after every step so a run cut
short still leaves consistent partial results. ``XMODAL_BENCH_N=20000`` makes a quick run;
``XMODAL_BENCH_KINDS`` / ``XMODAL_BENCH_PEERS`` (comma lists) choose what to measure;
``XMODAL_BENCH_RESUME=1`` keeps the steps an interrupted run already finished.
"""
from __future__ import annotations

import json
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

# The peers come right after the main kinds: the targets need them; the kinds after them matter
# least to the targets, and the slow-training ones come last, where a timeout costs the least.
LATE_KINDS = ("pq", "sq8", "lsh", "ivf_pq", "opq")


def _publish(out: dict, s: BenchDBSettings, results_dir: Path, t0: float) -> None:
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["targets"] = evaluate_targets(out, s)
    plot = results_dir / "db_recall_qps.png"
    plot_recall_qps(out, plot)
    out["plot"] = plot.name
    (results_dir / "db.json").write_text(json.dumps({"area": "db", **out}, indent=2, default=str))
    write_markdown(out, results_dir.parent.parent / "BENCHMARKS.md")


def _names(variable: str, known: tuple[str, ...]) -> list[str]:
    """A comma list from the environment (all of ``known`` when unset), checked against ``known``."""
    names = [n for n in os.environ.get(variable, ",".join(known)).split(",") if n]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"{variable}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def run(results_dir: Path) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    s = BenchDBSettings()
    t0 = time.perf_counter()
    ds = load(s.data, s.cache)
    kinds = _names("XMODAL_BENCH_KINDS", KINDS)
    peers = _names("XMODAL_BENCH_PEERS", PEERS)
    out: dict = {
        "dataset": ds.description, "n": ds.n, "dim": s.data.dim, "queries": len(ds.queries), "k": s.data.k,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
        "threads": s.sweep.threads, "batch": s.sweep.batch, "data_s": round(time.perf_counter() - t0, 1),
        "kinds": {}, "peers": {},
    }
    previous = results_dir / "db.json"
    if os.environ.get("XMODAL_BENCH_RESUME") == "1" and previous.exists():
        # Keep what an interrupted run of the same data set measured without error.
        old = json.loads(previous.read_text())
        if old.get("n") == out["n"]:
            out["kinds"] = {k: v for k, v in old.get("kinds", {}).items() if "error" not in v}
            out["peers"] = {k: v for k, v in old.get("peers", {}).items() if "error" not in v}
    steps = ([("kind", k) for k in kinds if k not in LATE_KINDS] + [("peer", p) for p in peers]
             + [("kind", k) for k in kinds if k in LATE_KINDS])
    for what, name in steps:
        if name in out["kinds" if what == "kind" else "peers"]:
            continue
        print(f"[bench db] {what} {name} ...", flush=True)
        t1 = time.perf_counter()
        if what == "kind":
            res = out["kinds"][name] = run_kind(name, s)
        else:
            res = out["peers"][name] = run_peer(name, ds.folder, s)
        res["process_s"] = round(time.perf_counter() - t1, 1)
        print(f"[bench db] {what} {name}: {res.get('error', 'ok')} ({res['process_s']} s)", flush=True)
        _publish(out, s, results_dir, t0)
    return out
