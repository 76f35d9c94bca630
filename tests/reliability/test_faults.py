"""Short fault-injection suite (part of `make test`); `make soak` runs the long one.

Each kill lands at a random moment inside a stream of acknowledged writes; after every kill
the database is reopened and checked row by row against what was acknowledged.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import time
import zlib
from pathlib import Path

import pytest

from tests.reliability import faults

SHORT_KILLS = int(os.environ.get("XMODAL_SHORT_KILLS", "3"))
SOAK_KILLS = int(os.environ.get("XMODAL_SOAK_KILLS", "100"))


def _assert_clean(summary: dict) -> None:
    assert summary["lost"] == 0 and not summary["problems"], summary["problems"]
    assert summary["acked_batches"] > 0, "the writer acknowledged nothing: the test exercised nothing"


@pytest.mark.parametrize("mode", ["upsert", "delete", "payload", "compact"])
def test_sigkill_short(tmp_path: Path, mode: str) -> None:
    seed = zlib.crc32(mode.encode()) % 1000  # not hash(mode): str hashes are salted per process
    _assert_clean(faults.kill_loop(tmp_path / "db", mode, SHORT_KILLS, seed=seed))


@pytest.mark.slow
@pytest.mark.parametrize("index", ["flat", "hnsw", "ivf_flat"])
@pytest.mark.parametrize("mode", ["upsert", "delete", "payload", "compact"])
def test_sigkill_soak(tmp_path: Path, mode: str, index: str) -> None:
    # 4 workloads x 3 index kinds share the SOAK_KILLS budget (>= 9 kills each, 108 in all).
    summary = faults.kill_loop(tmp_path / "db", mode, max(9, SOAK_KILLS // 12), index=index, seed=7)
    faults.record("sigkill", summary)
    _assert_clean(summary)


@pytest.mark.parametrize("round_", range(3))
def test_power_cut_copy(tmp_path: Path, round_: int) -> None:
    """Freeze the writer at a random instant, copy the files (what a power cut leaves), open the copy."""
    rng = random.Random(round_)
    db = tmp_path / "db"
    proc = faults.start_writer(db)
    acked_lines = [proc.stdout.readline()]
    time.sleep(rng.uniform(0.1, 1.0))
    proc.send_signal(signal.SIGSTOP)
    try:
        snapshot = tmp_path / "copy"
        shutil.copytree(db, snapshot, ignore=shutil.ignore_patterns("*.lock"))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.send_signal(signal.SIGCONT)
    out, _ = proc.communicate(timeout=30)
    log = faults.Log()
    log.read("".join(acked_lines) + out)
    # Every batch acknowledged before the freeze is in the copy; the in-flight one is all or none.
    summary = faults.check_consistency(snapshot, log, "flat")
    assert summary["lost"] == 0 and not summary["problems"], summary["problems"]
    assert summary["batches_present"] >= len(log.acked)
