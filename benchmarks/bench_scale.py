"""Scale on one machine (issue 16, item 4): every index kind at N x 384 against raw FAISS with
the same structure, measured in one run.

Why a separate benchmark: ``bench_db`` sweeps widely at 200k; this one asks what a kind costs per
vector as N grows (1M), so a deployment can be sized from bytes per vector (docs/SCALING.md).

Each kind runs in a fresh process (``--one KIND``) so its resident memory is measured from a clean
start: the data set is loaded into process memory first, then raw FAISS is built, measured, saved
(for its size on disk) and freed, then xmodal is built through its public API (upserts in batches,
each committed, then ``wait_for_maintenance()``) and measured the same way. Reported per system:

- build seconds, wall clock and CPU (the machine is shared: CPU seconds move less with load);
- RSS growth per vector after the build and after the search sweep ("serving"), split into
  anonymous memory and file pages (xmodal's float32 arena is a page-cache-served file);
- bytes per vector on disk (FAISS: ``write_index``; xmodal: its folder after ``flush``; xmodal's
  arena is an unlinked temporary file of 4 x dim bytes per vector, reported apart);
- recall@10 against the exact answer and queries per second at a few search settings, batches of
  100, plus queries per CPU-second (``time.process_time``), the ratio less disturbed by the other
  processes on a shared machine.

Every search and build runs on one thread (``OMP_NUM_THREADS=1``) for both systems alike.
A kind that outruns ``--timeout`` (hnsw at 1M on a slow machine) is killed; what it finished
(printed as it goes) is kept with ``"timed_out": true``.

    python -m benchmarks.bench_scale --n 200000 --kinds flat,hnsw,ivf_flat,ivf_pq,opq,sq8
    python -m benchmarks.bench_scale --n 1000000 --kinds flat,ivf_flat,sq8 --timeout 3600

Results merge into ``benchmarks/results/scale.json`` (one entry per N and kind).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss

from benchmarks.db_data import Dataset, load
from benchmarks.db_insert import per_vector, rss_split
from benchmarks.db_measure import folder_mb, recall_at_k
from benchmarks.db_settings import REPO, BenchDBSettings, DataSettings, SweepSettings
from benchmarks.db_systems import KindSpec, RawFaiss, System, Xmodal, kind_specs
from xmodal.db import Database  # noqa: F401  (loaded up front: its import is not counted as xmodal's memory)

KINDS = ("flat", "hnsw", "ivf_flat", "ivf_pq", "opq", "sq8")
RESULTS = REPO / "benchmarks" / "results" / "scale.json"
BATCH = 100
# A few search settings per kind (low / operating / high recall); kinds without one search once.
SWEEP: dict[str, list[dict]] = {
    "hnsw": [{"ef": 16}, {"ef": 64}, {"ef": 128}],
    "ivf_flat": [{"nprobe": 4}, {"nprobe": 16}, {"nprobe": 64}],
    "ivf_pq": [{"nprobe": 8}, {"nprobe": 32}, {"nprobe": 64}],
    "opq": [{"nprobe": 8}, {"nprobe": 32}, {"nprobe": 64}],
}
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "XMODAL_FAISS_THREADS": "1"}


def settings(n: int, queries: int, cache: Path) -> BenchDBSettings:
    """The db benchmark's data recipe and index parameters at ``n`` rows, one thread throughout."""
    data = DataSettings(n=n, n_queries=queries, selectivities_pct=())
    sweep = SweepSettings(threads=1, build_threads=1)
    return BenchDBSettings(data=data, sweep=sweep, cache=cache)


def spec_for(kind: str, s: BenchDBSettings) -> KindSpec:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: choose from {', '.join(KINDS)}")
    return dataclasses.replace(kind_specs(s)[kind], sweep=SWEEP.get(kind, [{}]))


def sweep_point(system: System, params: dict, ds: Dataset) -> dict:
    """One pass of every query in batches of ``BATCH``: recall@k, QPS and QPS per CPU-second."""
    found: list = []
    w0, c0 = time.perf_counter(), time.process_time()
    for lo in range(0, len(ds.queries), BATCH):
        found.extend(system.search(ds.queries[lo:lo + BATCH], params))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    q = len(ds.queries)
    return {"params": params, "recall": round(recall_at_k(found, ds.gt), 4),
            "qps": round(q / wall, 1), "qps_per_cpu_s": round(q / max(cpu, 1e-9), 1)}


def _measure(system: System, spec: KindSpec, ds: Dataset, before: dict, build_cpu_s: float) -> dict:
    built = rss_split()
    points = [sweep_point(system, params, ds) for params in spec.sweep]
    return {"build_s": round(system.build_s, 2), "build_cpu_s": round(build_cpu_s, 2),
            "ram_bytes_per_vector_built": per_vector(built, before, ds.n),
            "ram_bytes_per_vector": per_vector(rss_split(), before, ds.n),
            "points": points}


def measure_kind(kind: str, s: BenchDBSettings, emit=print) -> dict:
    """Raw FAISS, then xmodal, for one kind; ``emit`` gets the partial result after each stage."""
    ds = load(s.data, s.cache)
    spec = spec_for(kind, s)
    out: dict = {"kind": kind, "n": ds.n, "dim": int(ds.base.shape[1]), "queries": int(len(ds.queries)),
                 "xmodal_params": spec.params, "refine_factor": spec.refine,
                 "faiss_structure": spec.factory or "IndexHNSWFlat"}

    before, c0 = rss_split(), time.process_time()
    raw = RawFaiss(spec, ds.base, s)
    out["faiss"] = _measure(raw, spec, ds, before, time.process_time() - c0)
    with tempfile.TemporaryDirectory(dir=s.cache) as tmp:
        path = Path(tmp) / "index.faiss"
        faiss.write_index(raw.index, str(path))
        out["faiss"]["disk_bytes_per_vector"] = round(path.stat().st_size / ds.n, 1)
        if spec.refine > 1:  # the index alone, without the float32 copy re-ranking reads (Milvus's layout)
            faiss.write_index(raw.index.base_index, str(path))
            out["faiss"]["disk_bytes_per_vector_without_refine"] = round(path.stat().st_size / ds.n, 1)
    del raw
    emit(json.dumps(out))

    folder = s.cache / "work" / f"scale-{kind}-{ds.n}"
    before, c0 = rss_split(), time.process_time()
    xm = Xmodal(spec, ds.base, ds.pct, folder, s)
    out["xmodal"] = _measure(xm, spec, ds, before, time.process_time() - c0)
    out["xmodal"]["upsert_rows_per_s"] = round(xm.upsert_rate, 1)
    xm.col.flush()
    out["xmodal"]["disk_bytes_per_vector"] = round(folder_mb(folder) * 2**20 / ds.n, 1)
    out["xmodal"]["arena_file_bytes_per_vector"] = 4 * out["dim"]
    xm.close()
    shutil.rmtree(folder, ignore_errors=True)
    for p_raw, p_xm in zip(out["faiss"]["points"], out["xmodal"]["points"]):
        p_xm["qps_per_cpu_s_vs_faiss"] = round(p_xm["qps_per_cpu_s"] / p_raw["qps_per_cpu_s"], 3)
    f, x = out["faiss"], out["xmodal"]
    out["ram_vs_faiss"] = round(x["ram_bytes_per_vector"]["total"] / f["ram_bytes_per_vector"]["total"], 3)
    emit(json.dumps(out))
    return out


def run_kind(kind: str, n: int, queries: int, cache: Path, timeout_s: float) -> dict:
    """``measure_kind`` in a fresh single-threaded process; a timeout keeps what was finished."""
    cmd = [sys.executable, "-m", "benchmarks.bench_scale", "--one", kind, "--n", str(n),
           "--queries", str(queries), "--cache", str(cache)]
    env = {**os.environ, **SINGLE_THREAD_ENV}
    t0 = time.perf_counter()
    timed_out, stdout, stderr, rc = False, "", "", 0
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout_s, env=env)
        stdout, stderr, rc = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        timed_out = True
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    out = json.loads(lines[-1]) if lines else {"kind": kind, "n": n}
    if timed_out:
        out["timed_out"] = True
        out["error"] = f"stopped after {timeout_s:.0f} s"
    elif rc != 0:
        out["error"] = f"exit {rc}: {stderr.strip()[-800:]}"
    out["process_s"] = round(time.perf_counter() - t0, 1)
    return out


def merge(path: Path, n: int, results: list[dict]) -> dict:
    """Add this run's entries to the results file, replacing older ones for the same N and kind."""
    doc = json.loads(path.read_text()) if path.exists() else {"area": "scale", "entries": {}}
    for r in results:
        doc["entries"][f"{n}/{r['kind']}"] = r
    doc.update({"machine": f"{os.uname().machine}, {os.cpu_count()} cores (shared)", "threads": 1,
                "batch": BATCH, "updated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    return doc


def main_run(kinds: list[str], n: int, queries: int, cache: Path, timeout_s: float, out: Path) -> dict:
    for kind in kinds:
        spec_for(kind, settings(n, queries, cache))  # refuse an unknown kind before any work
    t0 = time.perf_counter()
    load(settings(n, queries, cache).data, cache)  # generate and solve the data once, up front
    print(f"[scale] data {n:,} x 384 ready in {time.perf_counter() - t0:.0f} s", flush=True)
    doc: dict = {}
    for kind in kinds:
        r = run_kind(kind, n, queries, cache, timeout_s)
        print(f"[scale] {n}/{kind}: {json.dumps(r)[:600]}", flush=True)
        doc = merge(out, n, [r])
    return doc


def run(results_dir: Path) -> dict:
    """`make bench` (benchmarks.run): 200k then 1M, every kind; hnsw last at 1M (slowest build)."""
    cache = BenchDBSettings().cache
    main_run(list(KINDS), 200_000, 1000, cache, 3600, results_dir / "scale.json")
    doc = main_run(["flat", "ivf_flat", "sq8", "ivf_pq", "opq", "hnsw"], 1_000_000, 1000, cache, 7200,
                   results_dir / "scale.json")
    return {k: v for k, v in doc.items() if k != "area"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per kind (build + sweep)")
    ap.add_argument("--cache", type=Path, default=BenchDBSettings().cache)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        measure_kind(args.one, settings(args.n, args.queries, args.cache),
                     emit=lambda line: print(line, flush=True))
        return
    main_run([k for k in args.kinds.split(",") if k], args.n, args.queries, args.cache, args.timeout, args.out)


if __name__ == "__main__":
    main()
