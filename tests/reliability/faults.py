"""Fault injection: SIGKILL a writer at random moments, then reopen and check consistency.

Used by the short suite in ``make test`` and by ``make soak`` (100 kills per workload).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.reliability import workload as W

ROOT = Path(__file__).resolve().parents[2]
SEARCH_SAMPLE_BATCHES = 10


@dataclass
class Log:
    """What the killed writers acknowledged, accumulated over all rounds."""

    mode: str = "upsert"
    acked: set[int] = field(default_factory=set)
    deleted: set[int] = field(default_factory=set)
    updated: set[int] = field(default_factory=set)
    highest_started: int = -1

    def read(self, out: str) -> None:
        for line in out.splitlines():
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                continue
            b = int(parts[1])
            if parts[0] == "ACK":
                self.acked.add(b)
            elif parts[0] == "DEL":
                self.deleted.add(b)
            elif parts[0] == "UPD":
                self.updated.add(b)

    @property
    def next_batch(self) -> int:
        return max(self.acked, default=-1) + 1


def child_env() -> dict:
    """Environment for a test's child Python: the repository importable, one BLAS thread."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def module_cmd(module: str, *args: object) -> list[str]:
    return [sys.executable, "-m", module, *map(str, args)]


def start_writer(db_path: Path, mode: str = "upsert", start: int = 0, index: str = "flat") -> subprocess.Popen:
    """A workload writer printing ``ACK`` lines on its stdout."""
    return subprocess.Popen(module_cmd("tests.reliability.workload", db_path, mode, start, index),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT)


def kill_writer_once(db_path: Path, mode: str, log: Log, index: str, rng: random.Random,
                     max_delay: float = 1.5) -> None:
    """Start a writer, let it run a random time, SIGKILL it, and record its acknowledgements."""
    start = log.next_batch
    log.highest_started = max(log.highest_started, start)
    proc = start_writer(db_path, mode, start, index)
    # Wait until the writer is past start-up (first ack) so kills land inside writes, then a random extra time.
    deadline = time.monotonic() + 60
    first = proc.stdout.readline()
    if not first:
        err = proc.stderr.read()
        raise AssertionError(f"writer died before its first write: {err[-2000:]}")
    time.sleep(rng.uniform(0.0, max_delay))
    if proc.poll() is None and time.monotonic() < deadline:
        os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    log.read(first + out)
    if proc.returncode not in (-signal.SIGKILL,):
        raise AssertionError(f"writer exited by itself ({proc.returncode}): {err[-2000:]}")


def check_consistency(db_path: Path, log: Log, index: str) -> dict:
    """Reopen and verify: every acknowledged write present and exact, no torn batch, search agrees.

    Returns counts (``lost`` rows among acknowledged writes, ``problems`` described) rather than
    stopping at the first one, so a soak run reports the full damage.
    """
    db, col = W.open_collection(str(db_path), index)
    problems: list[str] = []
    lost = 0
    try:
        present_batches = []
        top = max(log.acked | {log.highest_started}) + 1
        for b in range(top + 1):
            ids = W.batch_ids(b)
            recs = col.get(ids, with_vectors=True)
            n = len(recs)
            if n not in (0, W.BATCH):
                problems.append(f"torn batch {b}: {n} of {W.BATCH} rows present")
            delete_in_flight = log.mode in ("delete", "compact") and W.deleted_batch(b) and b not in log.deleted
            if b in log.acked and b not in log.deleted and not delete_in_flight and n < W.BATCH:
                lost += W.BATCH - n
                problems.append(f"acknowledged batch {b} lost {W.BATCH - n} rows")
            if b in log.deleted and n:
                lost += n
                problems.append(f"acknowledged delete of batch {b} undone ({n} rows back)")
            if not n:
                continue
            present_batches.append(b)
            want = W.batch_vectors(b)[[ids.index(r.id) for r in recs]]
            got = np.stack([r.vectors["v"] for r in recs])
            bad = ~np.isclose(got, want, rtol=1e-5, atol=1e-6).all(axis=1)
            bad |= np.array([r.payload.get("batch") != b for r in recs])
            if bad.any():
                lost += int(bad.sum())
                problems.append(f"batch {b}: {int(bad.sum())} rows differ from what was written")
            tags = {r.payload.get("tag") for r in recs}
            if len(tags) != 1:
                problems.append(f"torn payload update in batch {b}: {sorted(map(str, tags))}")
            if b in log.updated and tags != {"updated"}:
                lost += n
                problems.append(f"acknowledged payload update of batch {b} lost")
        if col.count() != W.BATCH * len(present_batches):
            problems.append(f"count() = {col.count()} but {W.BATCH * len(present_batches)} rows are stored")
        # The index agrees with the stored vectors: every stored vector finds itself first,
        # and deleted rows never come back from search.
        if present_batches:
            # A spread sample (first, newest and evenly between) keeps the check fast on big logs.
            step = max(1, len(present_batches) // SEARCH_SAMPLE_BATCHES)
            sample = sorted(set(present_batches[::step]) | {present_batches[-1]})
            q = np.concatenate([W.batch_vectors(b) for b in sample])
            expect = [i for b in sample for i in W.batch_ids(b)]
            hits = col.search("v", q, k=5)
            found = sum(1 for h, e in zip(hits, expect) if h and h[0].id == e)
            if found < 0.98 * len(expect):
                problems.append(f"search found only {found}/{len(expect)} stored vectors first")
            gone = {i for b in log.deleted for i in W.batch_ids(b)}
            if gone & {h.id for hs in hits for h in hs}:
                problems.append("search returned a deleted id")
        return {"batches_present": len(present_batches), "rows": col.count(), "lost": lost, "problems": problems}
    finally:
        db.close()


def kill_loop(db_path: Path, mode: str, kills: int, index: str = "flat", seed: int = 0) -> dict:
    rng = random.Random(seed)
    log = Log(mode=mode)
    lost = 0
    problems: list[str] = []
    last: dict = {}
    for _ in range(kills):
        kill_writer_once(db_path, mode, log, index, rng)
        last = check_consistency(db_path, log, index)
        lost += last.pop("lost")
        problems += last.pop("problems")
    return {"mode": mode, "index": index, "kills": kills, "acked_batches": len(log.acked),
            "acked_rows": len(log.acked) * W.BATCH, "lost": lost, "problems": problems[:20], **last}


SOAK_LOG = ROOT / "test-artifacts" / "soak.jsonl"


def record(name: str, summary: dict) -> None:
    """Append a soak result; scripts/reliability_report.py renders RELIABILITY.md from these lines."""
    import json

    SOAK_LOG.parent.mkdir(parents=True, exist_ok=True)
    with SOAK_LOG.open("a") as f:
        f.write(json.dumps({"test": name, **summary}) + "\n")
