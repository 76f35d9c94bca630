"""The benchmark's data: a clustered synthetic set on the unit sphere and its exact answers.

Generated deterministically from :class:`DataSettings` and cached under ``.cache/bench_db`` as
``.npy`` files, so peers running in another virtualenv (which cannot import faiss or xmodal)
read exactly the same vectors and ground truth with numpy alone.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.db_settings import DataSettings


@dataclass
class Dataset:
    base: np.ndarray           # (n, dim) float32, unit norm
    queries: np.ndarray        # (q, dim) float32, unit norm, drawn apart from the base
    gt: np.ndarray             # (q, k) int64 exact inner-product neighbours
    pct: np.ndarray            # (n,) int32 in [0, 100): ``pct < s`` selects exactly s % of rows
    filtered_gt: dict          # selectivity -> (q, k) exact neighbours among allowed rows
    range_threshold: float     # similarity giving ~range_mean_results neighbours per query
    folder: Path
    description: str

    @property
    def n(self) -> int:
        return int(self.base.shape[0])


def _key(s: DataSettings) -> str:
    return hashlib.sha256(json.dumps(asdict(s), sort_keys=True).encode()).hexdigest()[:12]


def _mixture(s: DataSettings, count: int, rng: np.random.Generator, centres: np.ndarray,
             weights: np.ndarray, sd: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    out = np.empty((count, s.dim), dtype=np.float32)
    step = 20_000
    for lo in range(0, count, step):
        m = min(step, count - lo)
        which = rng.choice(len(centres), size=m, p=weights)
        noise = rng.standard_normal((m, s.dim), dtype=np.float32) * (sd * s.cluster_scale)
        x = (centres[which] + noise) @ rotation
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[lo:lo + m] = x
    return out


def generate(s: DataSettings) -> tuple[np.ndarray, np.ndarray]:
    """Base and query vectors; queries come from the same mixture but a separate stream."""
    rng = np.random.default_rng(s.seed)
    sd = (np.arange(1, s.dim + 1, dtype=np.float32) ** (-s.spectrum_decay / 2)).astype(np.float32)
    centres = rng.standard_normal((s.n_centres, s.dim), dtype=np.float32) * (sd * s.centre_scale)
    weights = np.arange(1, s.n_centres + 1, dtype=np.float64) ** -s.cluster_size_zipf
    weights = rng.permutation(weights / weights.sum())
    rotation, _ = np.linalg.qr(rng.standard_normal((s.dim, s.dim)))
    rotation = rotation.astype(np.float32)
    base = _mixture(s, s.n, np.random.default_rng(s.seed + 1), centres, weights, sd, rotation)
    queries = _mixture(s, s.n_queries, np.random.default_rng(s.seed + 2), centres, weights, sd, rotation)
    return base, queries


def exact_knn(base: np.ndarray, queries: np.ndarray, k: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k by FAISS's flat scan (the reference every recall is against)."""
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    d_all, i_all = [], []
    for lo in range(0, len(queries), batch):
        d, i = index.search(queries[lo:lo + batch], k)
        d_all.append(d)
        i_all.append(i)
    return np.vstack(d_all), np.vstack(i_all).astype(np.int64)


def _pct_labels(s: DataSettings) -> np.ndarray:
    return (np.random.default_rng(s.seed + 3).permutation(s.n) % 100).astype(np.int32)


def load(s: DataSettings, cache: Path) -> Dataset:
    """The data set for ``s``, generated and solved exactly once, then read from the cache."""
    folder = cache / f"synthetic-{s.n}-{s.n_queries}-{_key(s)}"
    done = folder / "meta.json"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        base, queries = generate(s)
        _, gt = exact_knn(base, queries, s.k, s.gt_batch)
        pct = _pct_labels(s)
        for sel in s.selectivities_pct:
            allowed = np.flatnonzero(pct < sel)
            _, local = exact_knn(base[allowed], queries, s.k, s.gt_batch)
            np.save(folder / f"filtered_gt_{sel}.npy", allowed[local])
        # Threshold with ~range_mean_results neighbours per query on average.
        depth = s.range_mean_results * 4
        d_deep, _ = exact_knn(base, queries, depth, s.gt_batch)
        threshold = float(np.quantile(d_deep.ravel(), 1 - s.range_mean_results / depth))
        np.save(folder / "base.npy", base)
        np.save(folder / "queries.npy", queries)
        np.save(folder / "gt.npy", gt)
        np.save(folder / "pct.npy", pct)
        done.write_text(json.dumps({"settings": asdict(s), "range_threshold": threshold}, indent=1))
    meta = json.loads(done.read_text())
    return Dataset(
        base=np.load(folder / "base.npy"),
        queries=np.load(folder / "queries.npy"),
        gt=np.load(folder / "gt.npy"),
        pct=np.load(folder / "pct.npy"),
        filtered_gt={sel: np.load(folder / f"filtered_gt_{sel}.npy") for sel in s.selectivities_pct},
        range_threshold=float(meta["range_threshold"]),
        folder=folder,
        description=(f"clustered synthetic: {s.n:,} x {s.dim} unit vectors, Gaussian mixture of "
                     f"{s.n_centres} Zipf-sized clusters over a power-law spectrum (decay {s.spectrum_decay}), "
                     f"randomly rotated; {s.n_queries:,} queries from the same mixture, not in the base"),
    )
