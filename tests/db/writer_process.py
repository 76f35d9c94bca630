"""A writer run as a separate process by the crash and second-process tests.

Usage: python -m tests.db.writer_process FOLDER START_BATCH [hold | fold:PHASE]
Prints ``ACK <batch>`` after each acknowledged upsert and ``DEL <batch>`` after each
acknowledged delete, flushing stdout, so the parent knows exactly what was promised.
With ``hold`` it opens the database, prints ``READY`` and then runs the writes it reads on stdin.
With ``fold:start`` / ``fold:added`` the background folder stops for good at that phase of its
third fold after printing ``FOLD <first slot> <end slot>``, while the writes go on: the parent
kills the process in the middle of a fold.
"""
from __future__ import annotations

import sys
import threading

import numpy as np

from xmodal.db import Database, VectorField
from xmodal.db.streaming import FOLD_HOOKS

BATCH = 50
DIM = 8
_OUT = threading.Lock()


def say(line: str) -> None:
    """One whole line to stdout, flushed (the folder thread prints too)."""
    with _OUT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def batch_ids(b: int) -> list:
    return [f"b{b}-{i}" if i % 2 else b * BATCH + i for i in range(BATCH)]


def batch_vectors(b: int) -> np.ndarray:
    return np.random.default_rng(b).standard_normal((BATCH, DIM)).astype(np.float32)


def open_collection(folder: str):
    db = Database(folder, mode="w")
    col = db.create_collection("c", vectors={"v": VectorField(DIM, "cosine", "hnsw", {"M": 8})},
                               payload_schema={"batch": "int"}, exist_ok=True)
    return db, col


def main() -> None:
    folder, start = sys.argv[1], int(sys.argv[2])
    db, col = open_collection(folder)
    if len(sys.argv) > 3 and sys.argv[3] == "hold":
        print("READY", flush=True)
        for line in sys.stdin:  # scripted writes: "up B", "del B", "pay B", "meta", anything else quits
            cmd, _, arg = line.strip().partition(" ")
            if cmd == "up":
                b = int(arg)
                col.upsert(batch_ids(b), {"v": batch_vectors(b)}, [{"batch": b} for _ in range(BATCH)])
            elif cmd == "del":
                col.delete(where={"batch": int(arg)})
            elif cmd == "pay":
                col.update_payload(batch_ids(int(arg)), {"note": "changed"})
            elif cmd == "meta":
                col.set_metadata({"model": "new"})
            else:
                return
            print("OK", flush=True)
        return
    if len(sys.argv) > 3 and sys.argv[3].startswith("fold:"):
        stop_at = sys.argv[3].partition(":")[2]
        folds = []

        def hook(field: str, lo: int, hi: int, phase: str) -> None:
            if phase != stop_at:
                return
            folds.append(lo)
            if len(folds) == 3:
                say(f"FOLD {lo} {hi}")
                threading.Event().wait()  # the fold never finishes: the parent kills us here

        FOLD_HOOKS.append(hook)
    b = start
    while True:
        col.upsert(batch_ids(b), {"v": batch_vectors(b)}, [{"batch": b, "i": i} for i in range(BATCH)])
        say(f"ACK {b}")
        if b % 3 == 2:
            col.delete(where={"batch": b - 1})
            say(f"DEL {b - 1}")
        if b % 5 == 4:
            col.flush()  # index snapshots: kills land in the middle of them too
        b += 1


if __name__ == "__main__":
    main()
