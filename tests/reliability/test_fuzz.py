"""Bounded atheris runs of each fuzz target (longer ones in `make soak`)."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.reliability import faults
from tests.reliability.fuzz_targets_list import TARGET_NAMES

RUNS = int(os.environ.get("XMODAL_FUZZ_RUNS", "2000"))
SOAK_SECONDS = int(os.environ.get("XMODAL_FUZZ_SECONDS", "120"))


def _fuzz(target: str, *flags: str) -> subprocess.CompletedProcess:
    # libFuzzer's default 2 GB RSS ceiling was hit on the very first input ("A") once in a full-suite
    # run on a loaded machine and never alone: a ceiling on start-up, not on a leak. 4 GB still stops
    # a runaway loader.
    flags = ("-rss_limit_mb=4096", *flags)
    return subprocess.run(faults.module_cmd("tests.reliability.fuzz_targets", target, *flags),
                          capture_output=True, text=True, env=faults.child_env(), cwd=faults.ROOT, timeout=900)


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_fuzz_short(target: str) -> None:
    out = _fuzz(target, f"-runs={RUNS}", "-seed=1")
    assert out.returncode == 0, f"{target} crashed:\n{out.stderr[-3000:]}"
    assert "Done" in out.stderr, out.stderr[-1000:]


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGET_NAMES)
def test_fuzz_soak(target: str) -> None:
    out = _fuzz(target, f"-max_total_time={SOAK_SECONDS}")
    runs = [line for line in out.stderr.splitlines() if line.startswith("Done")]
    faults.record("fuzz", {"target": target, "seconds": SOAK_SECONDS, "summary": runs[-1] if runs else "",
                           "lost": 0 if out.returncode == 0 else 1, "problems": [] if out.returncode == 0 else [out.stderr[-500:]]})
    assert out.returncode == 0, f"{target} crashed:\n{out.stderr[-3000:]}"
