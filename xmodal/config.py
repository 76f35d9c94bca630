"""All tunable numbers and defaults, in one typed place.

Each layer reads its own section; nothing else in the code base hard-codes thresholds,
batch sizes or paths. Environment variables override only what users set per machine
(the database location, thread counts, the LLM endpoint).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

FORMAT_VERSION = 1  # on-disk format of the embedded database


@dataclass(frozen=True)
class DBConfig:
    # Indexes that need training stay exact until this many vectors exist (per kind, see db/indexes).
    min_train_vectors: int = 4096
    # An index is retrained once the collection has grown this many times past its training size.
    retrain_growth_factor: float = 4.0
    # Tombstone share that triggers compaction of an index.
    compact_tombstone_ratio: float = 0.2
    # A filtered search scans the allowed subset exactly when it is at most this many rows.
    exact_filter_max_rows: int = 20_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 64
    ivf_nprobe: int = 16
    pq_bits: int = 8
    refine_factor: int = 4
    sqlite_busy_timeout_ms: int = 5000


@dataclass(frozen=True)
class EncoderConfig:
    default_model: str = "xmodal-lite"
    text_batch_size: int = 32
    image_batch_size: int = 16
    torch_threads: int = int(os.environ.get("XMODAL_THREADS", "1") or 1)
    chunk_tokens: int = 200  # words per text chunk
    chunk_overlap: int = 40


@dataclass(frozen=True)
class MediaConfig:
    max_image_pixels: int = 64_000_000  # decompression-bomb guard
    image_size: int = 224
    thumbnail_size: int = 256
    video_frame_interval_s: float = 2.0
    max_text_bytes: int = 20_000_000


@dataclass(frozen=True)
class IngestConfig:
    default_collection: str = "media"
    rrf_k: int = 60  # reciprocal-rank fusion constant


@dataclass(frozen=True)
class ApiKey:
    """One client of the REST server: its secret, what it may do, and the namespace it lives in.

    ``key`` is the secret itself or ``"sha256:<hex>"`` of it, so key files need not hold plain secrets.
    ``scopes``: "read" (list, get, search), "write" (upsert, delete, upload), "admin" (create / drop
    collections, index server folders); each implies the ones before it. ``grants``: other namespaces
    this key may read.
    """

    key: str
    scopes: tuple[str, ...] = ("read",)
    namespace: str = "default"
    grants: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = 25_000_000      # per uploaded file
    max_request_bytes: int = 60_000_000     # whole request body (several files, big vector batches)
    max_files_per_upload: int = 32
    db: str | None = None                   # database folder or URI; None = default_db_path()
    keys: tuple[ApiKey, ...] = ()           # empty = no authentication (then loopback only, see below)
    allow_open_public: bool = False         # bind a non-loopback address without keys anyway
    roots: tuple[str, ...] = ()             # server-side folders that POST /v1/media/index may read
    upload_dir: str | None = None           # where uploaded media is kept; None = "<db>.uploads"
    default_library: str = "media"          # media library (collection) used when a request names none
    default_k: int = 10
    max_k: int = 1000
    max_points_per_request: int = 10_000
    max_range_hits: int = 10_000            # range / threshold searches return at most this many hits
    max_query_chars: int = 2_000
    max_name_chars: int = 64                # collection and namespace names
    latency_window: int = 2_000             # recent requests kept for the p50 / p99 in /v1/metrics
    thumbnail_cache_items: int = 512
    upload_chunk_bytes: int = 1 << 20


@dataclass(frozen=True)
class Config:
    db: DBConfig = field(default_factory=DBConfig)
    encoders: EncoderConfig = field(default_factory=EncoderConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    server: ServerConfig = field(default_factory=ServerConfig)


CONFIG = Config()


def default_db_path() -> Path:
    """The database used when no --db is given: $XMODAL_DB or ./xmodal.db."""
    return Path(os.environ.get("XMODAL_DB", "xmodal.db"))


def cache_dir() -> Path:
    """Where derived files that are expensive to recompute live (features, rasterised SVGs)."""
    return Path(os.environ.get("XMODAL_CACHE", Path.home() / ".cache" / "xmodal"))
