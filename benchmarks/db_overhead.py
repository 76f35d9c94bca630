"""xmodal's per-call overhead over raw FAISS, reproducibly (not part of `make bench`).

    python -m benchmarks.db_overhead [n] [folder]

Clustered unit vectors (numpy, seeded). A flat collection with an int payload ``pct`` (0..99)
measures filtered search at 1% against brute force over the allowed rows; an HNSW collection
(built once, reused from ``folder``) measures unfiltered search against FAISS ``IndexHNSWFlat``
with the same M / efConstruction / efSearch. Runs alternate; best of 3 is reported.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import faiss
import numpy as np

from xmodal.db import Database, VectorField

D, K = 384, 10


def data(n: int, nq: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((1000, D)).astype(np.float32)
    lab = rng.integers(0, 1000, n + nq)
    x = centers[lab] + 0.5 * rng.standard_normal((n + nq, D)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x[:n].copy(), x[n:].copy(), rng.integers(0, 100, n)


def qps_single(fn, qs, budget=1.5):
    t0, i = time.perf_counter(), 0
    while time.perf_counter() - t0 < budget:
        fn(qs[i % len(qs)][None])
        i += 1
    return i / (time.perf_counter() - t0)


def qps_batch(fn, qs, b=100, budget=1.5):
    t0, i = time.perf_counter(), 0
    while time.perf_counter() - t0 < budget:
        lo = (i * b) % len(qs)
        fn(qs[lo:lo + b])
        i += 1
    return i * b / (time.perf_counter() - t0)


def best(pairs):
    out = {}
    for name, fn, qs in pairs:
        out[name] = [0.0, 0.0]
    for _ in range(3):
        for name, fn, qs in pairs:
            out[name][0] = max(out[name][0], qps_single(fn, qs))
            out[name][1] = max(out[name][1], qps_batch(fn, qs))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    folder = Path(sys.argv[2] if len(sys.argv) > 2 else f"/tmp/xm_overhead_{n}")
    faiss.omp_set_num_threads(1)
    base, qs, pct = data(n)
    fresh = not folder.exists()
    db = Database(str(folder))
    faiss.omp_set_num_threads(1)
    if fresh:
        for kind in ("flat", "hnsw"):
            col = db.create_collection(kind, vectors={"v": VectorField(dim=D, metric="cosine", index=kind)},
                                       payload_schema={"pct": "int"})
            t0 = time.perf_counter()
            for lo in range(0, n, 1000):
                col.upsert(list(range(lo, min(n, lo + 1000))), {"v": base[lo:lo + 1000]},
                           payloads=[{"pct": int(p)} for p in pct[lo:lo + 1000]])
            col.wait_for_maintenance()
            print(f"build {kind}: {n / (time.perf_counter() - t0):,.0f} rows/s", flush=True)
        db.close()
        db = Database(str(folder))
        faiss.omp_set_num_threads(1)
    flat, hnsw = db.collection("flat"), db.collection("hnsw")
    hnsw.wait_for_maintenance()
    ann = hnsw._fields["v"].ann.index  # the identical index object and parameters
    where = {"pct": {"$lt": 1}}
    allowed = np.flatnonzero(pct < 1)
    subset = np.ascontiguousarray(base[allowed])

    def raw_hnsw(q, ef):
        return ann.search(q, K, params=faiss.SearchParametersHNSW(efSearch=ef))

    for ef in (32, 64):
        r = best([("faiss", lambda q, ef=ef: raw_hnsw(q, ef), qs),
                  ("xmodal", lambda q, ef=ef: hnsw.search("v", q, k=K, params={"ef": ef}, with_payload=False), qs)])
        print(f"hnsw ef={ef}: single xmodal {r['xmodal'][0]:,.0f} faiss {r['faiss'][0]:,.0f} "
              f"ratio {r['xmodal'][0] / r['faiss'][0]:.2f} | batch-100 xmodal {r['xmodal'][1]:,.0f} "
              f"faiss {r['faiss'][1]:,.0f} ratio {r['xmodal'][1] / r['faiss'][1]:.2f}", flush=True)
    r = best([("brute", lambda q: faiss.knn(q, subset, K, faiss.METRIC_INNER_PRODUCT), qs),
              ("xmodal", lambda q: flat.search("v", q, k=K, where=where, with_payload=False), qs),
              ("xmodal_hnsw", lambda q: hnsw.search("v", q, k=K, where=where, with_payload=False), qs)])
    for name in ("xmodal", "xmodal_hnsw"):
        print(f"filtered 1% ({len(allowed)} rows) {name}: single {r[name][0]:,.0f} vs brute {r['brute'][0]:,.0f} "
              f"ratio {r[name][0] / r['brute'][0]:.2f} | batch-100 {r[name][1]:,.0f} vs {r['brute'][1]:,.0f} "
              f"ratio {r[name][1] / r['brute'][1]:.2f}", flush=True)
    db.close()


if __name__ == "__main__":
    main()
