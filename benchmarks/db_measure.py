"""Timing, recall and memory helpers shared by every system the database benchmark measures.

Only numpy and psutil are imported, so the peer runners (in .venv-bench, without faiss or
xmodal) measure with exactly the same code as the in-process systems.
"""
from __future__ import annotations

import gc
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

SearchOne = Callable[[np.ndarray], Sequence[int]]
SearchMany = Callable[[np.ndarray], Sequence[Sequence[int]]]

# Fewest queries a time-bounded single-query run makes before it may stop (keeps recall meaningful).
MIN_TIMED_QUERIES = 20


def recall_at_k(found: Sequence[Sequence[int]], truth: np.ndarray) -> float:
    """Mean share of each query's exact top-k that the system returned (ids < 0 are padding)."""
    k = truth.shape[1]
    hits = 0
    for row, exact in zip(found, truth):
        hits += len({int(i) for i in list(row)[:k] if int(i) >= 0} & set(exact.tolist()))
    return hits / (k * len(found)) if len(found) else 0.0


def time_single(search: SearchOne, queries: np.ndarray, budget_s: float) -> tuple[float, list]:
    """Queries per second with one query per call, stopping once ``budget_s`` is spent.

    Returns the results of the queries it ran, in order, so recall can be checked on them.
    """
    out: list = []
    t0 = time.perf_counter()
    for i, q in enumerate(queries):
        out.append(search(q))
        if i + 1 >= MIN_TIMED_QUERIES and time.perf_counter() - t0 > budget_s:
            break
    elapsed = time.perf_counter() - t0
    return len(out) / elapsed, out


def time_batch(search: SearchMany, queries: np.ndarray, batch: int, budget_s: float) -> tuple[float, list]:
    """Queries per second for batches of ``batch`` queries: at least one full pass over all
    queries (for recall), repeated while the budget lasts, best pass kept (the CPU is shared, so
    the fastest pass is the least disturbed one)."""
    best = float("inf")
    results: list = []
    spent = 0.0
    while True:
        t0 = time.perf_counter()
        passed: list = []
        for lo in range(0, len(queries), batch):
            passed.extend(search(queries[lo:lo + batch]))
        dt = time.perf_counter() - t0
        spent += dt
        best = min(best, dt)
        results = results or passed
        if spent + dt > budget_s:
            break
    return len(queries) / best, results


def best_of(measure: Callable[[], tuple[float, list]], repeats: int) -> tuple[float, list]:
    """Highest rate of ``repeats`` runs of ``measure`` (least disturbed by other processes)."""
    runs = [measure() for _ in range(max(1, repeats))]
    return max(r[0] for r in runs), runs[0][1]


def rss_mb() -> float:
    """Resident memory of this process in MiB, after a garbage collection."""
    import psutil

    gc.collect()
    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def folder_mb(path: Path) -> float:
    """Bytes on disk under ``path`` in MiB (what persistence costs)."""
    path = Path(path)
    if not path.exists():
        return 0.0
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def fresh_dir(path: Path) -> Path:
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def exact_topk_numpy(base: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None,
                     batch: int = 256) -> np.ndarray:
    """Exact inner-product top-k by numpy (for peers run on a subset of rows, without faiss)."""
    ids = np.arange(len(base)) if allowed is None else allowed
    sub = base[ids]
    out = np.empty((len(queries), k), dtype=np.int64)
    for lo in range(0, len(queries), batch):
        sims = queries[lo:lo + batch] @ sub.T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1)
        out[lo:lo + batch] = ids[np.take_along_axis(part, order, axis=1)]
    return out


def point(params: dict, recall: float, qps_single: float | None, qps_batch: float | None,
          n_single: int | None = None, **extra) -> dict:
    """One (parameters, recall, speed) measurement, the unit every curve and table is built from."""
    row = {"params": params, "recall": round(recall, 4),
           "qps_single": None if qps_single is None else round(qps_single, 1),
           "qps_batch": None if qps_batch is None else round(qps_batch, 1)}
    if n_single is not None:
        row["n_single_queries"] = n_single
    row.update(extra)
    return row
