"""Peer vector databases (Chroma, LanceDB, Qdrant local mode, Milvus Lite), measured the same way.

Each peer runs in its own subprocess under ``.venv-bench`` (``scripts/setup_bench.sh``), so its
dependency pins cannot disturb the main virtualenv and a hang is bounded by a timeout. The
subprocess reads the cached ``.npy`` data set, persists the peer's store in a temporary folder,
and prints one JSON object: ingest rate (batches with persistence), index build time, memory, a
recall / QPS sweep and filtered search at each selectivity.

Run by hand: ``PYTHONPATH=. .venv-bench/bin/python -m benchmarks.db_peers chroma DATA_FOLDER ROWS``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.db_measure import (exact_topk_numpy, folder_mb, point, recall_at_k, rss_mb, time_batch,
                                   time_single)
from benchmarks.db_settings import BenchDBSettings, REPO

PEERS = ("chroma", "lancedb", "qdrant", "milvus_lite")


class Peer:
    """What the runner needs from a peer; ``pct_lt`` is the selectivity filter or None."""

    name = ""
    index = ""

    def __init__(self, folder: Path, s: BenchDBSettings):
        self.folder = folder
        self.s = s

    def ingest(self, ids: np.ndarray, vecs: np.ndarray, pct: np.ndarray) -> None: ...

    def build(self) -> None:
        """Build the ANN index after ingestion (peers that index on insert do nothing)."""

    def sweep(self) -> list[dict]:
        return [{}]

    def search(self, qs: np.ndarray, params: dict, pct_lt: int | None) -> list[list[int]]: ...

    def close(self) -> None: ...


class Chroma(Peer):
    name, index = "chroma", "hnsw (hnswlib, M 16)"

    def __init__(self, folder, s):
        super().__init__(folder, s)
        import chromadb

        self.client = chromadb.PersistentClient(path=str(folder))
        self.col = self.client.create_collection(
            "bench", embedding_function=None,
            configuration={"hnsw": {"space": "ip", "max_neighbors": s.sweep.hnswlib_m,
                                    "ef_construction": s.sweep.hnsw_ef_construction,
                                    "ef_search": s.peers.hnsw_ef[0]}})
        self._ef = s.peers.hnsw_ef[0]

    def ingest(self, ids, vecs, pct):
        self.col.add(ids=[str(i) for i in ids], embeddings=vecs,
                     metadatas=[{"pct": int(p)} for p in pct])

    def _set_ef(self, ef: int) -> None:
        """Chroma 1.5 stores ``modify(ef_search)`` but the loaded segment keeps its old ef until
        the client's system cache is dropped and the collection reopened from disk."""
        import chromadb
        from chromadb.api.client import SharedSystemClient

        self.col.modify(configuration={"hnsw": {"ef_search": ef}})
        self.col = self.client = None
        SharedSystemClient.clear_system_cache()
        self.client = chromadb.PersistentClient(path=str(self.folder))
        self.col = self.client.get_collection("bench")
        self._ef = ef

    def sweep(self):
        return [{"ef": ef} for ef in self.s.peers.hnsw_ef]

    def search(self, qs, params, pct_lt):
        if params.get("ef", self._ef) != self._ef:
            self._set_ef(params["ef"])
        res = self.col.query(query_embeddings=qs, n_results=self.s.data.k, include=[],
                             where=None if pct_lt is None else {"pct": {"$lt": pct_lt}})
        return [[int(i) for i in row] for row in res["ids"]]


class Lance(Peer):
    name, index = "lancedb", "IVF_PQ (256 partitions, 48 sub-vectors, refine x10)"

    def __init__(self, folder, s):
        super().__init__(folder, s)
        import lancedb

        self.db = lancedb.connect(str(folder))
        self.table = None

    def _arrow(self, ids, vecs, pct):
        import pyarrow as pa

        flat = pa.array(np.ascontiguousarray(vecs, dtype=np.float32).ravel(), type=pa.float32())
        return pa.table({"id": pa.array(ids, type=pa.int64()),
                         "vector": pa.FixedSizeListArray.from_arrays(flat, vecs.shape[1]),
                         "pct": pa.array(pct, type=pa.int32())})

    def ingest(self, ids, vecs, pct):
        data = self._arrow(ids, vecs, pct)
        if self.table is None:
            self.table = self.db.create_table("bench", data=data)
        else:
            self.table.add(data)

    def build(self):
        self.table.create_index(metric="dot", num_partitions=256, num_sub_vectors=self.s.sweep.pq_m,
                                index_type="IVF_PQ")
        self.table.create_scalar_index("pct")

    def sweep(self):
        return [{"nprobes": n, "refine_factor": self.s.peers.lance_refine} for n in self.s.peers.lance_nprobes]

    def _one(self, q, params, pct_lt):
        query = (self.table.search(q).distance_type("dot").nprobes(params["nprobes"])
                 .refine_factor(params["refine_factor"]).limit(self.s.data.k).select(["id"]))
        if pct_lt is not None:
            query = query.where(f"pct < {pct_lt}", prefilter=True)
        return query.to_arrow()["id"].to_pylist()

    def search(self, qs, params, pct_lt):
        return [self._one(q, params, pct_lt) for q in qs]


class Qdrant(Peer):
    name, index = "qdrant", "local mode (exact numpy scan; no ANN index in local mode)"

    def __init__(self, folder, s):
        super().__init__(folder, s)
        from qdrant_client import QdrantClient, models

        self.m = models
        self.client = QdrantClient(path=str(folder))
        self.client.create_collection("bench", vectors_config=models.VectorParams(
            size=s.data.dim, distance=models.Distance.DOT))

    def ingest(self, ids, vecs, pct):
        self.client.upsert("bench", points=self.m.Batch(
            ids=[int(i) for i in ids], vectors=vecs.tolist(), payloads=[{"pct": int(p)} for p in pct]))

    def _filter(self, pct_lt):
        if pct_lt is None:
            return None
        return self.m.Filter(must=[self.m.FieldCondition(key="pct", range=self.m.Range(lt=pct_lt))])

    def search(self, qs, params, pct_lt):
        if len(qs) == 1:
            res = self.client.query_points("bench", query=qs[0].tolist(), limit=self.s.data.k,
                                           query_filter=self._filter(pct_lt), with_payload=False)
            return [[int(p.id) for p in res.points]]
        reqs = [self.m.QueryRequest(query=q.tolist(), limit=self.s.data.k, filter=self._filter(pct_lt))
                for q in qs]
        return [[int(p.id) for p in r.points] for r in self.client.query_batch_points("bench", requests=reqs)]

    def close(self):
        self.client.close()


class MilvusLite(Peer):
    name, index = "milvus_lite", "HNSW (M 16)"

    def __init__(self, folder, s):
        super().__init__(folder, s)
        from pymilvus import DataType, MilvusClient

        self.client = MilvusClient(str(folder / "milvus.db"))
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=s.data.dim)
        schema.add_field("pct", DataType.INT64)
        index = self.client.prepare_index_params()
        index.add_index(field_name="vector", index_type="HNSW", metric_type="IP",
                        params={"M": s.sweep.hnswlib_m, "efConstruction": s.sweep.hnsw_ef_construction})
        self.client.create_collection("bench", schema=schema, index_params=index)

    def ingest(self, ids, vecs, pct):
        self.client.insert("bench", [{"id": int(i), "vector": v, "pct": int(p)}
                                     for i, v, p in zip(ids, vecs.tolist(), pct)])

    def build(self):
        # Milvus Lite builds segment indexes in a background thread after a flush; releasing and
        # loading builds the missing ones synchronously, so the sweep does not time brute force.
        self.client.flush("bench")
        self.client.release_collection("bench")
        self.client.load_collection("bench")

    def sweep(self):
        return [{"ef": ef} for ef in self.s.peers.hnsw_ef]

    def search(self, qs, params, pct_lt):
        res = self.client.search("bench", data=qs.tolist(), limit=self.s.data.k,
                                 search_params={"metric_type": "IP", "params": {"ef": params["ef"]}},
                                 filter="" if pct_lt is None else f"pct < {pct_lt}", output_fields=[])
        return [[int(h["id"]) for h in row] for row in res]

    def close(self):
        self.client.close()


PEER_CLASSES = {"chroma": Chroma, "lancedb": Lance, "qdrant": Qdrant, "milvus_lite": MilvusLite}


def measure_peer(name: str, data: Path, rows: int, s: BenchDBSettings) -> dict:
    """Ingest, index, sweep and filter one peer; every phase bounded by the settings' budgets."""
    base = np.load(data / "base.npy", mmap_mode="r")
    queries = np.load(data / "queries.npy")[: s.peers.max_queries]
    pct_all = np.load(data / "pct.npy")
    rows = min(rows, len(base))
    out: dict = {"peer": name, "rows_requested": rows}
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-", dir=REPO / ".cache") as tmp:
        folder = Path(tmp)
        rss0 = rss_mb()
        peer = PEER_CLASSES[name](folder, s)
        out["index"] = peer.index
        step = s.peers.ingest_batch
        t0 = time.perf_counter()
        done = 0
        while done < rows:
            hi = min(rows, done + step)
            peer.ingest(np.arange(done, hi), np.asarray(base[done:hi], dtype=np.float32), pct_all[done:hi])
            done = hi
            if time.perf_counter() - t0 > s.peers.ingest_budget_s:
                break
        ingest_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        peer.build()
        build_s = time.perf_counter() - t1
        out.update(rows=done, ingest_s=round(ingest_s, 2), ingest_rate=round(done / ingest_s, 1),
                   index_build_s=round(build_s, 2), rss_delta_mb=round(rss_mb() - rss0, 1),
                   disk_mb=round(folder_mb(folder), 1),
                   truncated=done < rows)
        sub = np.asarray(base[:done], dtype=np.float32)
        if done == len(base):
            gt = np.load(data / "gt.npy")[: len(queries)]
        else:
            gt = exact_topk_numpy(sub, queries, s.data.k)
        points = []
        for params in peer.sweep():
            qps1, res1 = time_single(lambda q: peer.search(q[None], params, None)[0], queries,
                                     s.peers.query_budget_s)
            qpsb, resb = time_batch(lambda qs: peer.search(qs, params, None), queries[: len(res1)],
                                    s.sweep.batch, s.peers.query_budget_s)
            points.append(point(params, recall_at_k(res1, gt[: len(res1)]), qps1, qpsb, n_single=len(res1)))
        out["points"] = points
        filtered = {}
        best = max(peer.sweep(), key=lambda p: sum(p.values()))
        for sel in s.data.selectivities_pct:
            allowed = np.flatnonzero(pct_all[:done] < sel)
            qps1, res1 = time_single(lambda q: peer.search(q[None], best, sel)[0], queries,
                                     s.peers.query_budget_s)
            fgt = exact_topk_numpy(sub, queries[: len(res1)], s.data.k, allowed=allowed)
            filtered[str(sel)] = point(best, recall_at_k(res1, fgt), qps1, None, n_single=len(res1))
        out["filtered"] = filtered
        peer.close()
    return out


def run_peer(name: str, data: Path, s: BenchDBSettings) -> dict:
    """Run one peer in its own .venv-bench process, bounded by ``peers.timeout_s``."""
    python = s.peers.python
    if not python.exists():
        return {"peer": name, "error": f"{python} missing: run scripts/setup_bench.sh"}
    cmd = [str(python), "-m", "benchmarks.db_peers", name, str(data), str(s.peers.rows[name])]
    env = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(s.sweep.threads),
           "PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "ANONYMIZED_TELEMETRY": "False"}
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=s.peers.timeout_s)
    except subprocess.TimeoutExpired:
        return {"peer": name, "error": f"timed out after {s.peers.timeout_s:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"peer": name, "error": f"exit {proc.returncode}: {proc.stderr.strip()[-600:]}"}
    return json.loads(lines[-1])


if __name__ == "__main__":
    peer_name, data_folder, n_rows = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(measure_peer(peer_name, data_folder, n_rows, BenchDBSettings())), flush=True)
