"""Deterministic write workloads for fault injection.

A writer process runs one of these against a database folder and prints ``ACK <batch>`` on
stdout after each call returns (the moment xmodal acknowledges the write). The checker
regenerates every batch from its number alone, so after any crash it knows exactly which ids
and vectors must be there.
"""
from __future__ import annotations

import sys

import numpy as np

DIM = 32
BATCH = 50
COLLECTION = "soak"


def batch_ids(b: int) -> list[str]:
    return [f"b{b}-{i}" for i in range(BATCH)]


def batch_vectors(b: int) -> np.ndarray:
    rng = np.random.default_rng(1000 + b)
    v = rng.standard_normal((BATCH, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def batch_payloads(b: int) -> list[dict]:
    return [{"batch": b, "i": i, "tag": f"t{b % 7}"} for i in range(BATCH)]


def deleted_batch(b: int) -> bool:
    """In the delete workload, every third batch is deleted right after it is written."""
    return b % 3 == 2


def open_collection(path: str, index: str = "flat"):
    from xmodal.db import Database, VectorField

    db = Database(path)
    if COLLECTION in db.list_collections():
        return db, db.collection(COLLECTION)
    col = db.create_collection(
        COLLECTION,
        vectors={"v": VectorField(dim=DIM, metric="cosine", index=index)},
        payload_schema={"batch": "int", "i": "int", "tag": "str"},
    )
    return db, col


def run(path: str, mode: str, start: int, index: str) -> None:
    db, col = open_collection(path, index)
    b = start
    while True:
        col.upsert(batch_ids(b), {"v": batch_vectors(b)}, payloads=batch_payloads(b))
        print(f"ACK {b}", flush=True)
        if mode in ("delete", "compact") and deleted_batch(b):
            col.delete(ids=batch_ids(b))
            print(f"DEL {b}", flush=True)
        if mode == "compact" and b % 5 == 4:
            col.compact()  # tombstones dropped and indexes rebuilt: kills land inside this too
        if mode == "payload" and b % 2 == 1:
            col.update_payload(batch_ids(b), {"tag": "updated"})
            print(f"UPD {b}", flush=True)
        b += 1


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "flat")
