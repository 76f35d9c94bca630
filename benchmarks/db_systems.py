"""The in-process systems under test: xmodal through its public API, raw FAISS with the same
index structure and parameters (the limit any FAISS-backed engine can reach), and hnswlib.

Every system answers the same three calls -- ``build``, ``search(queries, params)`` returning
row ids, ``sweep()`` listing the search parameters to try -- so one measuring loop serves all.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.db_measure import fresh_dir, recall_at_k, rss_mb
from benchmarks.db_settings import BenchDBSettings

# Index kinds xmodal offers, with the structure both xmodal and raw FAISS get.
# ``kdtree`` is left out on purpose: in 384 dimensions a k-d tree visits nearly every leaf, so it
# is an exact scan with extra steps (xmodal offers it for low-dimensional fields).
KINDS = ("flat", "hnsw", "ivf_flat", "ivf_pq", "opq", "pq", "sq8", "lsh")


@dataclass
class KindSpec:
    """How one index kind is built and swept, for xmodal and for raw FAISS alike."""

    kind: str
    params: dict                     # xmodal VectorField params
    sweep: list[dict]                # xmodal search params per sweep point
    refine: int = 1                  # exact re-ranking factor (compressed kinds)
    factory: str = ""                # FAISS index_factory string ("" = built by hand)
    train: bool = False
    notes: str = ""
    extra: dict = field(default_factory=dict)


def kind_specs(s: BenchDBSettings) -> dict[str, KindSpec]:
    from xmodal.config import CONFIG

    sw = s.sweep
    m, nlist = sw.pq_m, max(16, min(sw.ivf_nlist_max, s.data.n // 200))
    refine = CONFIG.db.refine_factor
    nprobe = [{"nprobe": p} for p in sw.nprobe]
    ivf_pq_nprobe = [{"nprobe": p} for p in sw.pq_nprobe]
    return {
        "flat": KindSpec("flat", {}, [{}], factory="Flat"),
        "hnsw": KindSpec("hnsw", {"M": sw.hnsw_m, "ef_construction": sw.hnsw_ef_construction},
                         [{"ef": e} for e in sw.ef]),
        "ivf_flat": KindSpec("ivf_flat", {"nlist": nlist}, nprobe, factory=f"IVF{nlist},Flat", train=True),
        "ivf_pq": KindSpec("ivf_pq", {"nlist": nlist, "m": m}, ivf_pq_nprobe, refine=refine,
                           factory=f"IVF{nlist},PQ{m}x8np", train=True),
        "opq": KindSpec("opq", {"nlist": nlist, "m": m}, ivf_pq_nprobe, refine=refine,
                        factory=f"OPQ{m},IVF{nlist},PQ{m}x8np", train=True),
        "pq": KindSpec("pq", {"m": m}, [{}], refine=refine, factory=f"PQ{m}x8np", train=True),
        "sq8": KindSpec("sq8", {}, [{}], refine=refine, factory="SQ8", train=True),
        "lsh": KindSpec("lsh", {"nbits": sw.lsh_bits}, [{}], refine=CONFIG.db.lsh_refine_factor, train=True),
    }


class System:
    """One searchable system; ``search`` returns row ids (int) per query."""

    name = ""
    build_s = 0.0
    rss_delta_mb = 0.0

    def sweep(self) -> list[dict]:
        return [{}]

    def search(self, qs: np.ndarray, params: dict) -> list[list[int]]:
        raise NotImplementedError

    def close(self) -> None:
        return None


class RawFaiss(System):
    """FAISS with the same structure xmodal builds, exact re-ranking included where xmodal does it."""

    def __init__(self, spec: KindSpec, base: np.ndarray, s: BenchDBSettings):
        import faiss
        from xmodal.config import CONFIG

        self.name, self.spec, self.k = f"faiss:{spec.kind}", spec, s.data.k
        faiss.omp_set_num_threads(s.sweep.build_threads)
        r0, t0 = rss_mb(), time.perf_counter()
        d = base.shape[1]
        if spec.kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, spec.params["M"], faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = spec.params["ef_construction"]
        elif spec.kind == "lsh":
            index = faiss.IndexLSH(d, spec.params["nbits"], True)
        else:
            index = faiss.index_factory(d, spec.factory, faiss.METRIC_INNER_PRODUCT)
        if spec.train:
            cap = CONFIG.db.max_train_vectors  # xmodal's training sample cap: same k-means input size
            pick = np.random.default_rng(0).choice(len(base), min(cap, len(base)), replace=False)
            index.train(np.ascontiguousarray(base[np.sort(pick)]))
        if spec.refine > 1:
            index = faiss.IndexRefineFlat(index)
        index.add(base)
        self.index = index
        self.build_s = time.perf_counter() - t0
        self.rss_delta_mb = rss_mb() - r0
        faiss.omp_set_num_threads(s.sweep.threads)

    def sweep(self) -> list[dict]:
        return self.spec.sweep

    def _params(self, params: dict) -> Any:
        import faiss

        kind = self.spec.kind
        if kind == "hnsw":
            p = faiss.SearchParametersHNSW()
            p.efSearch = max(params["ef"], self.k)
            return p
        inner = None
        if kind in ("ivf_flat", "ivf_pq"):
            inner = faiss.SearchParametersIVF()
            inner.nprobe = params["nprobe"]
        elif kind == "opq":
            ivf = faiss.SearchParametersIVF()
            ivf.nprobe = params["nprobe"]
            inner = faiss.SearchParametersPreTransform()
            inner.index_params = ivf
            inner._keep = ivf
        if self.spec.refine > 1:
            p = faiss.IndexRefineSearchParameters()
            p.k_factor = float(self.spec.refine)
            if inner is not None:
                p.base_index_params = inner
                p._keep = inner
            return p
        return inner

    def search(self, qs, params):
        p = self._params(params)
        _, ids = self.index.search(qs, self.k) if p is None else self.index.search(qs, self.k, params=p)
        return ids


class Hnswlib(System):
    def __init__(self, base: np.ndarray, s: BenchDBSettings):
        import hnswlib

        self.name, self.k, self._ef = "hnswlib", s.data.k, None
        r0, t0 = rss_mb(), time.perf_counter()
        index = hnswlib.Index(space="ip", dim=base.shape[1])
        index.init_index(max_elements=len(base), M=s.sweep.hnswlib_m, ef_construction=s.sweep.hnsw_ef_construction)
        index.add_items(base, np.arange(len(base)), num_threads=s.sweep.build_threads)
        index.set_num_threads(s.sweep.threads)
        self.index = index
        self.build_s = time.perf_counter() - t0
        self.rss_delta_mb = rss_mb() - r0
        self._sweep = [{"ef": e} for e in s.sweep.ef]

    def sweep(self):
        return self._sweep

    def search(self, qs, params):
        if params["ef"] != self._ef:
            self._ef = params["ef"]
            self.index.set_ef(max(self._ef, self.k))
        ids, _ = self.index.knn_query(qs, k=self.k)
        return ids


class Xmodal(System):
    """xmodal's embedded database through its public API only: a fresh folder, upserts in
    batches with their payloads (each batch committed to disk), then searches."""

    def __init__(self, spec: KindSpec, base: np.ndarray, pct: np.ndarray, folder: Path, s: BenchDBSettings,
                 queries: np.ndarray | None = None, gt: np.ndarray | None = None):
        """``queries`` / ``gt``: also measure, right after the last upsert returns (before the
        background folder has indexed everything), recall@k and whether the last batch's rows
        are found first (``self.fresh``)."""
        import faiss
        from xmodal.db import Database, VectorField

        self.name, self.spec, self.k = f"xmodal:{spec.kind}", spec, s.data.k
        self.folder = fresh_dir(folder)
        r0, t0 = rss_mb(), time.perf_counter()
        self.db = Database(str(self.folder))
        faiss.omp_set_num_threads(s.sweep.build_threads)  # after open: the engine sets its own count
        self.col = self.db.create_collection(
            "bench", vectors={"v": VectorField(dim=base.shape[1], metric="cosine", index=spec.kind,
                                               params=spec.params)},
            payload_schema={"pct": "int"})
        step = s.sweep.upsert_batch
        for lo in range(0, len(base), step):
            hi = min(len(base), lo + step)
            self.col.upsert(list(range(lo, hi)), {"v": base[lo:hi]},
                            payloads=[{"pct": int(p)} for p in pct[lo:hi]])
        # Every row is durable and searchable once its upsert returns: that is the upsert rate.
        self.ack_s = time.perf_counter() - t0
        self.upsert_rate = len(base) / self.ack_s
        self.fresh: dict = {}
        probe_s = time.perf_counter()
        if queries is not None and gt is not None:
            info = self.col.index_info()["v"]
            last = np.arange(max(0, len(base) - step), len(base))
            found = self.search(queries, {})
            top1 = [row[0] if row else -1 for row in self.search(base[last], {})]
            self.fresh = {"growing_rows": int(info.get("growing", 0)),
                          "recall_at_k": round(recall_at_k(found, gt), 4),
                          "last_batch_found_first": round(float(np.mean(np.asarray(top1) == last)), 4)}
        probe_s = time.perf_counter() - probe_s
        self.col.wait_for_maintenance()  # background folding / (re)training counts as build time
        self.build_s = time.perf_counter() - t0 - probe_s
        self.rss_delta_mb = rss_mb() - r0
        self.indexed_rate = len(base) / self.build_s
        faiss.omp_set_num_threads(s.sweep.threads)

    def sweep(self):
        return self.spec.sweep

    def search(self, qs, params, where=None):
        hits = self.col.search("v", qs, k=self.k, where=where, params=params or None, with_payload=False)
        return [[h.id for h in row] for row in hits]

    def close(self):
        self.db.close()
