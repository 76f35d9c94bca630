"""One index kind, measured side by side: raw FAISS (same structure, same parameters) against
xmodal's public API, each sweep point timed alternately so both see the same CPU weather.

Each kind runs in its own process (``python -m benchmarks.db_kind KIND``) so that its memory
is measured from a clean start and a kind that trains far too slowly is stopped by a timeout
instead of stalling the whole benchmark. The ``hnsw`` process also measures hnswlib, filtered
search and range / threshold search, reusing the collection it already built.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

from benchmarks.db_data import Dataset, load
from benchmarks.db_measure import best_of, point, recall_at_k, time_batch, time_single
from benchmarks.db_settings import BenchDBSettings, REPO
from benchmarks.db_systems import Hnswlib, RawFaiss, System, Xmodal, kind_specs


def _measure(system: System, params: dict, ds: Dataset, s: BenchDBSettings) -> dict:
    sw = s.sweep
    qps1, _ = time_single(lambda q: system.search(q[None], params)[0], ds.queries, sw.single_budget_s)
    qpsb, res = time_batch(lambda qs: system.search(qs, params), ds.queries, sw.batch, sw.batch_budget_s)
    return point(params, recall_at_k(res, ds.gt), qps1, qpsb)


def sweep_pair(systems: list[System], ds: Dataset, s: BenchDBSettings) -> dict[str, list[dict]]:
    """Every system over the shared sweep; systems alternate at each point, measured twice."""
    out: dict[str, list[dict]] = {sys_.name: [] for sys_ in systems}
    for params in systems[0].sweep():
        runs: dict[str, list[dict]] = {sys_.name: [] for sys_ in systems}
        for _ in range(2):
            for sys_ in systems:
                runs[sys_.name].append(_measure(sys_, params, ds, s))
        for name, pair in runs.items():
            best = dict(pair[0])
            best["qps_single"] = max(r["qps_single"] for r in pair)
            best["qps_batch"] = max(r["qps_batch"] for r in pair)
            out[name].append(best)
    return out


def filtered(xm: Xmodal, raw: RawFaiss, ds: Dataset, s: BenchDBSettings) -> dict:
    """Filtered k-NN at each selectivity: xmodal's ``where`` against brute force over the
    allowed rows (the exact answer, and the speed to beat) and raw FAISS HNSW with a bitmap."""
    import faiss

    sw, k = s.sweep, s.data.k
    out = {}
    for sel in s.data.selectivities_pct:
        where = {"pct": {"$lt": sel}}
        allowed = np.flatnonzero(ds.pct < sel)
        subset = np.ascontiguousarray(ds.base[allowed])
        truth = ds.filtered_gt[sel]

        def brute(qs):
            _, i = faiss.knn(qs, subset, k, faiss.METRIC_INNER_PRODUCT)
            return allowed[i]

        ok = np.zeros(ds.n, bool)
        ok[allowed] = True
        bits = np.packbits(ok, bitorder="little")
        selector = faiss.IDSelectorBitmap(ds.n, faiss.swig_ptr(bits))

        def raw_hnsw(qs):
            p = faiss.SearchParametersHNSW()
            p.efSearch = 64
            p.sel = selector
            return raw.index.search(qs, k, params=p)[1]

        row = {"rows_allowed": int(len(allowed))}
        for name, fn in (("xmodal", lambda qs: xm.search(qs, {}, where=where)),
                         ("brute_force_subset", brute), ("faiss_hnsw_bitmap_ef64", raw_hnsw)):
            best1, _ = best_of(lambda: time_single(lambda q: fn(q[None])[0], ds.queries, sw.single_budget_s), 2)
            bestb, res = best_of(lambda: time_batch(fn, ds.queries, sw.batch, sw.batch_budget_s), 2)
            row[name] = point({}, recall_at_k(res, truth), best1, bestb)
        out[str(sel)] = row
    return out


def _range_recall(found: list, exact: list) -> tuple[float, float]:
    tp = sum(len(set(f) & set(e)) for f, e in zip(found, exact))
    n_exact = sum(len(e) for e in exact)
    n_found = sum(len(f) for f in found)
    return (tp / n_exact if n_exact else 1.0), (tp / n_found if n_found else 1.0)


def range_and_threshold(xm: Xmodal, ds: Dataset, s: BenchDBSettings) -> dict:
    """Threshold (similarity >= t) and range (1 - cosine <= r) search against FAISS's exact
    range scan over all rows; both must find everything the scan finds, faster."""
    import faiss

    sw, t = s.sweep, ds.range_threshold
    flat = faiss.IndexFlatIP(ds.base.shape[1])
    flat.add(ds.base)

    def exact(qs):
        lims, _, ids = flat.range_search(qs, t)
        return [ids[lims[i]:lims[i + 1]].tolist() for i in range(len(qs))]

    def thr(qs):
        return [[h.id for h in row] for row in xm.col.threshold_search("v", qs, min_similarity=t, with_payload=False)]

    def rng(qs):
        return [[h.id for h in row] for row in xm.col.range_search("v", qs, radius=1.0 - t, with_payload=False)]

    out = {"min_similarity": round(t, 5), "radius": round(1.0 - t, 5)}
    truth: list = []
    for name, fn in (("exact_faiss_range_scan", exact), ("xmodal_threshold_search", thr),
                     ("xmodal_range_search", rng)):
        best1, _ = best_of(lambda: time_single(lambda q: fn(q[None])[0], ds.queries, sw.single_budget_s), 2)
        bestb, res = best_of(lambda: time_batch(fn, ds.queries, sw.batch, sw.batch_budget_s), 2)
        truth = truth or res
        rec, prec = _range_recall(res, truth)
        out[name] = point({}, rec, best1, bestb, precision=round(prec, 4),
                          mean_results=round(float(np.mean([len(r) for r in res])), 2))
    return out


def measure_kind(kind: str, s: BenchDBSettings) -> dict:
    ds = load(s.data, s.cache)
    spec = kind_specs(s)[kind]
    raw = RawFaiss(spec, ds.base, s)
    xm = Xmodal(spec, ds.base, ds.pct, s.cache / "work" / f"xmodal-{kind}", s, ds.queries, ds.gt)
    systems: list[System] = [raw, xm]
    hl = None
    if kind == "hnsw":
        hl = Hnswlib(ds.base, s)
        systems.append(hl)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    out = {"kind": kind, "xmodal_commit": commit.stdout.strip(), "xmodal_params": spec.params, "refine_factor": spec.refine,
           "faiss_structure": spec.factory or ("IndexHNSWFlat" if kind == "hnsw" else "IndexLSH"),
           "build": {sys_.name: {"seconds": round(sys_.build_s, 2), "rss_delta_mb": round(sys_.rss_delta_mb, 1)}
                     for sys_ in systems},
           "xmodal_upsert_rate": round(xm.upsert_rate, 1),
           "xmodal_indexed_rate": round(xm.indexed_rate, 1), "xmodal_after_last_upsert": xm.fresh,
           "xmodal_index_info": xm.col.index_info()["v"]}
    out["points"] = sweep_pair(systems, ds, s)
    if kind == "hnsw":
        out["filtered"] = filtered(xm, raw, ds, s)
        out["range"] = range_and_threshold(xm, ds, s)
    xm.close()
    return out


def run_kind(kind: str, s: BenchDBSettings) -> dict:
    """``measure_kind`` in a child process, bounded by its ``sweep.kind_timeout_s``."""
    cmd = [sys.executable, "-m", "benchmarks.db_kind", kind]
    limits = s.sweep.kind_timeout_s
    limit = limits.get(kind, limits["default"])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "error": f"timed out after {limit:.0f} s (build + sweep)"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"kind": kind, "error": f"exit {proc.returncode}: {proc.stderr.strip()[-800:]}"}
    out = json.loads(lines[-1])
    out["process_s"] = round(time.perf_counter() - t0, 1)
    return out


if __name__ == "__main__":
    print(json.dumps(measure_kind(sys.argv[1], BenchDBSettings()), default=float), flush=True)
