"""Every number the vector-database benchmark uses, in one typed place.

The benchmark is not part of the library, so its knobs live here rather than in
``xmodal/config.py``; environment variables shrink it for a quick smoke run
(``XMODAL_BENCH_N=20000 python -m benchmarks.run --only db``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


@dataclass(frozen=True)
class DataSettings:
    """The clustered synthetic set: a Gaussian mixture on the unit sphere.

    A power-law spectrum (like real sentence embeddings, whose variance concentrates in a few
    dozen directions) is rotated randomly so no axis is special for PQ / LSH; cluster sizes are
    Zipf-like, so some clusters are dense and most are small, as in real corpora.
    """

    n: int = field(default_factory=lambda: _env_int("XMODAL_BENCH_N", 200_000))
    n_queries: int = field(default_factory=lambda: _env_int("XMODAL_BENCH_QUERIES", 1000))
    dim: int = 384
    n_centres: int = 3000
    spectrum_decay: float = 0.9       # variance of principal direction i ~ i ** -decay
    centre_scale: float = 1.0         # spread of cluster centres
    cluster_scale: float = 0.55       # spread inside a cluster, relative to the centres' spread
    cluster_size_zipf: float = 0.7    # cluster weights ~ rank ** -zipf
    seed: int = 20261127
    k: int = 10
    gt_batch: int = 256               # queries per exact ground-truth batch
    # Payload field ``pct``: row i gets i-th value of a permutation of range(n) mod 100, so
    # ``pct < s`` selects exactly s % of the rows.
    selectivities_pct: tuple[int, ...] = (1, 10)
    # Range / threshold search: the similarity threshold is the one that gives, on average,
    # this many neighbours per query (computed from the exact scan of the same queries).
    range_mean_results: int = 25


@dataclass(frozen=True)
class SweepSettings:
    """Search-parameter sweeps and timing bounds."""

    ef: tuple[int, ...] = (10, 16, 32, 64, 128, 256)
    nprobe: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    pq_nprobe: tuple[int, ...] = (4, 8, 16, 32, 64)
    batch: int = 100
    # Single-query timing stops after this many seconds (recall always uses every query).
    single_budget_s: float = field(default_factory=lambda: _env_float("XMODAL_BENCH_SINGLE_S", 1.0))
    batch_budget_s: float = field(default_factory=lambda: _env_float("XMODAL_BENCH_BATCH_S", 1.0))
    # Each index kind (raw FAISS + xmodal) runs in its own process, killed after this long.
    # hnsw builds three graphs (FAISS, xmodal, hnswlib) and also runs the filtered and range parts.
    kind_timeout_s: dict = field(default_factory=lambda: {
        "hnsw": 2400.0, "ivf_pq": 300.0, "opq": 300.0, "default": 600.0})
    recall_levels: tuple[float, ...] = (0.90, 0.95, 0.99)
    threads: int = field(default_factory=lambda: _env_int("XMODAL_BENCH_THREADS", 1))
    # Index construction may use both cores on every system alike (searches stay on ``threads``).
    build_threads: int = field(default_factory=lambda: _env_int("XMODAL_BENCH_BUILD_THREADS", 2))
    # Index construction parameters shared by xmodal and raw FAISS / hnswlib.
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnswlib_m: int = 16
    ivf_nlist_max: int = 1024         # nlist = min(this, n / 200): 1024 at 200k, fewer in quick runs
    pq_m: int = 48                    # 384 / 48 = 8 dimensions per sub-quantiser
    lsh_bits: int = 1536              # 4 bits per dimension
    upsert_batch: int = 1000


@dataclass(frozen=True)
class PeerSettings:
    """Peers run in .venv-bench subprocesses, each bounded in time."""

    python: Path = REPO / ".venv-bench" / "bin" / "python"
    timeout_s: float = field(default_factory=lambda: _env_float("XMODAL_BENCH_PEER_TIMEOUT_S", 420.0))
    # Rows each peer ingests (capped by the data set size); slow ingesters get fewer.
    rows: dict = field(default_factory=lambda: {
        "chroma": 200_000, "lancedb": 100_000, "qdrant": 20_000, "milvus_lite": 20_000})
    ingest_batch: int = 1000
    ingest_budget_s: float = field(default_factory=lambda: _env_float("XMODAL_BENCH_INGEST_S", 150.0))
    query_budget_s: float = 4.0       # per sweep point, single-query calls
    max_queries: int = 1000
    hnsw_ef: tuple[int, ...] = (16, 32, 64, 128)
    lance_nprobes: tuple[int, ...] = (8, 32, 128)
    lance_refine: int = 10


@dataclass(frozen=True)
class BenchDBSettings:
    data: DataSettings = field(default_factory=DataSettings)
    sweep: SweepSettings = field(default_factory=SweepSettings)
    peers: PeerSettings = field(default_factory=PeerSettings)
    cache: Path = field(default_factory=lambda: Path(os.environ.get("XMODAL_BENCH_CACHE", REPO / ".cache" / "bench_db")))
