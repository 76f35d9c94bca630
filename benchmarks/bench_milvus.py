"""Milvus and scale-out: the same workload on the embedded engine, Milvus Lite and a Milvus standalone
server (the ``milvus`` wheel's binary on loopback, default settings), bytes per vector of each index
kind on disk, and encoding throughput with 1 and 2 local workers and with Ray.

``python -m benchmarks.bench_milvus [--only workload,capacity,encoding]`` (or ``make bench``) writes
``benchmarks/results/milvus.json``. ``XMODAL_BENCH_MILVUS_N`` shrinks the vector set for a smoke run.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.db_data import load
from benchmarks.db_measure import folder_mb, recall_at_k, time_batch, time_single
from benchmarks.db_settings import REPO, BenchDBSettings, DataSettings
from tests.milvus.standalone import StandaloneMilvus


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


@dataclass(frozen=True)
class MilvusBenchSettings:
    n: int = field(default_factory=lambda: _env_int("XMODAL_BENCH_MILVUS_N", 50_000))
    n_queries: int = 300
    k: int = 10
    recall_target: float = 0.95
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    ef: tuple[int, ...] = (16, 32, 64, 128, 256)
    insert_batch: int = 1000
    single_budget_s: float = 3.0
    batch_budget_s: float = 3.0
    query_batch: int = 50
    # Filtered search: rows carry shard = i % shards; queries keep shard 0 (1 / shards of the rows).
    shards: int = 10
    # Bytes per vector: this many 384-d vectors per index kind.
    capacity_n: int = field(default_factory=lambda: _env_int("XMODAL_BENCH_MILVUS_CAPACITY_N", 20_000))
    capacity_kinds: tuple[str, ...] = ("flat", "hnsw", "ivf_flat", "sq8", "ivf_pq", "pq")
    # Encoding: photos indexed per mode.
    encode_files: int = 400
    # The image tower alone: label-bridge adds Tesseract OCR per image, which would be measured instead.
    encode_model: str = "efficientnet-lite0"
    encode_workers: tuple[int, ...] = (1, 2)
    ray_workers: int = 2


S = MilvusBenchSettings()
BACKENDS = ("embedded", "milvus-lite", "milvus")
CAPACITY_BACKENDS = ("embedded", "milvus-lite")  # on-disk size per collection: not separable on a server
_server_dbs = itertools.count()


def _open(kind: str, folder: Path, server: str = ""):
    from xmodal.db import connect

    if kind == "milvus":
        return connect(f"milvus://{server}/bench{next(_server_dbs)}")
    return connect(str(folder / "embedded") if kind == "embedded" else f"milvus-lite:{folder / 'lite.db'}")


def _filtered_truth(base: np.ndarray, queries: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """Exact cosine top-k among the allowed rows (ids into ``base``)."""
    b = base[allowed] / np.linalg.norm(base[allowed], axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    return allowed[np.argsort(-(q @ b.T), axis=1)[:, :k]]


def _disk(kind: str, folder: Path) -> float:
    return folder_mb(folder / ("embedded" if kind == "embedded" else "lite.db"))


# ----------------------------------------------------------------------------- workload

def workload(work: Path) -> dict:
    """Insert rate, query speed at recall@10 >= target and filtered recall, same data and HNSW
    settings on every backend; the standalone server starts (untimed) before its turn."""
    server = StandaloneMilvus(work / "milvus-server")
    server.start()
    try:
        return _workload(work, server.address)
    finally:
        server.stop()


def _workload(work: Path, server: str) -> dict:
    from xmodal.db.api import VectorField

    data = load(DataSettings(n=S.n, n_queries=S.n_queries, k=S.k), BenchDBSettings().cache)
    allowed = np.arange(0, data.n, S.shards)
    filtered_gt = _filtered_truth(data.base, data.queries, allowed, S.k)
    out: dict = {"data": data.description, "n": data.n, "dim": int(data.base.shape[1]), "backends": {}}
    for kind in BACKENDS:
        folder = work / f"workload-{kind}"
        folder.mkdir()
        db = _open(kind, folder, server)
        col = db.create_collection("bench", {"v": VectorField(
            dim=data.base.shape[1], metric="cosine", index="hnsw",
            params={"M": S.hnsw_m, "ef_construction": S.hnsw_ef_construction})}, {"shard": "int"})
        t0 = time.perf_counter()
        for lo in range(0, data.n, S.insert_batch):
            hi = min(lo + S.insert_batch, data.n)
            col.upsert(list(range(lo, hi)), {"v": data.base[lo:hi]}, [{"shard": i % S.shards} for i in range(lo, hi)])
        insert_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        if hasattr(col, "flush"):
            col.flush()  # Milvus: seal segments and wait for their HNSW builds
        col.search("v", data.queries[:1], k=S.k)
        ready_s = time.perf_counter() - t0
        row = {"insert_rows_per_s": round(data.n / insert_s, 1), "insert_s": round(insert_s, 1),
               "ready_after_insert_s": round(ready_s, 2), "sweep": []}
        for ef in S.ef:
            def one(q, ef=ef):
                return [h.id for h in col.search("v", q[None, :], k=S.k, params={"ef": ef}, with_payload=False)[0]]

            def many(qs, ef=ef):
                return [[h.id for h in hs] for hs in col.search("v", qs, k=S.k, params={"ef": ef}, with_payload=False)]

            qps1, found1 = time_single(one, data.queries, S.single_budget_s)
            qpsb, foundb = time_batch(many, data.queries, S.query_batch, S.batch_budget_s)
            row["sweep"].append({"ef": ef, "recall": round(recall_at_k(foundb, data.gt), 4),
                                 "recall_single": round(recall_at_k(found1, data.gt[:len(found1)]), 4),
                                 "qps_single": round(qps1, 1), "qps_batch": round(qpsb, 1)})
            print(f"[bench milvus] {kind} ef={ef}: {row['sweep'][-1]}", flush=True)
        good = [p for p in row["sweep"] if p["recall"] >= S.recall_target]
        row["at_target"] = good[0] if good else None
        row["filtered"] = _filtered(col, data.queries, filtered_gt, row["at_target"]["ef"] if good else max(S.ef))
        print(f"[bench milvus] {kind} filtered: {row['filtered']}", flush=True)
        db.close()
        if kind != "milvus":
            row["disk_mb"] = round(_disk(kind, folder), 1)
        out["backends"][kind] = row
        shutil.rmtree(folder, ignore_errors=True)
    emb = out["backends"]["embedded"]
    for kind, key in (("milvus-lite", "ratios_lite_over_embedded"), ("milvus", "ratios_standalone_over_embedded")):
        other = out["backends"][kind]
        out[key] = {
            "insert_rate": round(other["insert_rows_per_s"] / emb["insert_rows_per_s"], 3),
            "qps_single_at_target": _ratio(other, emb, "qps_single"),
            "qps_batch_at_target": _ratio(other, emb, "qps_batch"),
        }
    return out


def _filtered(col, queries: np.ndarray, gt: np.ndarray, ef: int) -> dict:
    """Recall@k and batch QPS of k-NN restricted to shard 0 (1 / shards of the rows) at ``ef``."""
    where = {"shard": 0}

    def many(qs):
        return [[h.id for h in hs] for hs in col.search("v", qs, k=S.k, where=where, params={"ef": ef},
                                                         with_payload=False)]

    qps, found = time_batch(many, queries, S.query_batch, S.batch_budget_s)
    return {"ef": ef, "selectivity": round(1 / S.shards, 3), "recall": round(recall_at_k(found, gt), 4),
            "qps_batch": round(qps, 1)}


def _ratio(a: dict, b: dict, key: str):
    if not a["at_target"] or not b["at_target"]:
        return None
    return round(a["at_target"][key] / b["at_target"][key], 3)


# ----------------------------------------------------------------------------- capacity

def capacity(work: Path) -> dict:
    """Bytes on disk per 384-d vector for each index kind: (size with n rows - size empty) / n."""
    from xmodal.db.api import VectorField
    from xmodal.db.backends.milvus import IndexMappingWarning

    data = load(DataSettings(n=S.capacity_n, n_queries=10, k=S.k), BenchDBSettings().cache)
    n, dim = data.n, int(data.base.shape[1])
    out: dict = {"n": n, "dim": dim, "raw_float32_bytes": dim * 4, "kinds": {}}
    for kind in CAPACITY_BACKENDS:
        for index in S.capacity_kinds:
            folder = work / f"cap-{kind}-{index}"
            folder.mkdir()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", IndexMappingWarning)
                db = _open(kind, folder)
                col = db.create_collection("cap", {"v": VectorField(dim=dim, metric="cosine", index=index)})
                db.close()
                empty = _disk(kind, folder)
                db = _open(kind, folder)
                col = db.collection("cap")
                for lo in range(0, n, S.insert_batch):
                    col.upsert(list(range(lo, min(lo + S.insert_batch, n))), {"v": data.base[lo:lo + S.insert_batch]})
                if hasattr(col, "flush"):
                    col.flush()
                col.search("v", data.queries[:1], k=S.k)  # indexes that train lazily are built by now
                mapped = getattr(col, "_itype", {}).get("v")
                db.close()
            full = _disk(kind, folder)
            out["kinds"].setdefault(index, {})[kind] = {
                "bytes_per_vector": round((full - empty) * 2**20 / n, 1),
                **({"milvus_index": mapped} if mapped else {}),
                **({"note": str(caught[0].message)} if caught else {})}
            print(f"[bench milvus] capacity {kind} {index}: {out['kinds'][index][kind]}", flush=True)
            shutil.rmtree(folder, ignore_errors=True)
    return out


# ----------------------------------------------------------------------------- encoding

def _media(dest: Path, count: int) -> Path:
    """``count`` distinct photos: the bundled sample images, cropped and shifted so every file's
    bytes (and content hash) differ."""
    from PIL import Image, ImageOps

    dest.mkdir(parents=True)
    sources = sorted((REPO / "samples" / "media" / "images").glob("*.jpg")) + \
        sorted((REPO / "samples" / "media" / "images").glob("*.png")) + \
        sorted((REPO / "samples" / "media" / "images").glob("*.webp"))
    imgs = [ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in sources]
    for i in range(count):
        img = imgs[i % len(imgs)]
        w, h = img.size
        d = 1 + i // len(imgs)
        crop = img.crop((d, d, max(d + 8, w - d), max(d + 8, h - d)))
        if i % 2:
            crop = ImageOps.mirror(crop)
        crop.save(dest / f"photo-{i:04d}.jpg", quality=90)
    return dest


class _Timed:
    """Wraps a runner to stamp each batch it hands back: the steady rate is measured between the first
    and the last batch, so start-up (model loads, process and Ray start) is reported apart."""

    def __init__(self, inner):
        self.inner = inner
        self.stamps: list[tuple[float, int]] = []

    def run(self, batches, on_progress=None):
        for outcomes in self.inner.run(batches, on_progress):
            self.stamps.append((time.perf_counter(), len(outcomes)))
            yield outcomes


def _index_timed(folder: Path, lib_path: Path, mode: str, workers: int) -> dict:
    import xmodal
    from xmodal.ingest.distributed import ray_runner
    from xmodal.ingest.workers import LocalRunner, Options

    lib = xmodal.open(lib_path, model=S.encode_model)
    try:
        if mode == "ray":
            inner = ray_runner(lib, "local", workers, ocr=False, speech=False)
        else:  # what Library.index builds when given no runner
            opts = Options(model=lib.model, thumbs_dir=str(lib.store.thumbs_dir), ocr=False, speech=False)
            inner = LocalRunner(opts, workers, encoder=lib.encoder if workers <= 1 else None)
        runner = _Timed(inner)
        t0 = time.perf_counter()
        report = lib.index([folder], ocr=False, speech=False, progress=False, runner=runner)
        wall = time.perf_counter() - t0
        assert not report.failed, report.failed[:3]
    finally:
        lib.close()
    (t_first, _), (t_last, _) = runner.stamps[0], runner.stamps[-1]
    after_first = sum(n for _, n in runner.stamps[1:])
    return {"wall_s": round(wall, 1), "files_per_s_wall": round(S.encode_files / wall, 2),
            "files_per_s_steady": round(after_first / max(t_last - t_first, 1e-9), 2),
            "first_batch_s": round(t_first - t0, 1), "batches": len(runner.stamps)}


def encoding(work: Path) -> dict:
    """Files per second indexing photos with 1 and 2 local workers and with Ray actors (the library
    writes into the embedded engine; the model is loaded inside the timed run, as a user sees it)."""
    folder = _media(work / "photos", S.encode_files)
    modes = [("local", w) for w in S.encode_workers] + [("ray", S.ray_workers)]
    out: dict = {"model": S.encode_model, "files": S.encode_files, "cpus": os.cpu_count(), "modes": {}}
    for mode, workers in modes:
        name = f"{mode}-{workers}" if mode == "local" else f"ray-{workers}-actors"
        out["modes"][name] = _index_timed(folder, work / f"{name}.xmdb", mode, workers)
        print(f"[bench milvus] encoding {name}: {out['modes'][name]}", flush=True)
    base = out["modes"]["local-1"]
    out["vs_1_worker"] = {k: {"steady": round(v["files_per_s_steady"] / base["files_per_s_steady"], 2),
                              "wall": round(v["files_per_s_wall"] / base["files_per_s_wall"], 2)}
                          for k, v in out["modes"].items()}
    return out


PARTS = {"workload": workload, "capacity": capacity, "encoding": encoding}


def run(results_dir: Path, only: str = ",".join(PARTS)) -> dict:
    """Each part's result is merged into ``milvus.json`` as soon as it is measured, so a failure in a
    later part (or a run of one part) keeps the others."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    target = Path(results_dir) / "milvus.json"
    out: dict = json.loads(target.read_text()) if target.exists() else {}
    out.update(area="milvus", settings=asdict(S))
    with tempfile.TemporaryDirectory(prefix="xmodal-bench-milvus-") as tmp:
        for part in [p for p in only.split(",") if p]:
            sub = Path(tmp) / part
            sub.mkdir()
            out[part] = PARTS[part](sub)
            Path(results_dir).mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(out, indent=2, default=str))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=",".join(PARTS))
    args = ap.parse_args()
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    res = run(results, args.only)
    print(json.dumps(res, indent=1, default=str)[:8000])
