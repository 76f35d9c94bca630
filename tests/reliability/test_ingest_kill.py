"""SIGKILL `xmodal index` mid-run: what was written is whole, and a re-run completes the library
to exactly what an uninterrupted run builds (no half items, no orphans, no missing keywords)."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.reliability import faults

MODEL = "label-bridge"
SHORT_ROUNDS = int(os.environ.get("XMODAL_INGEST_KILLS", "1"))
SOAK_ROUNDS = int(os.environ.get("XMODAL_INGEST_SOAK_KILLS", "12"))
COLORS = ["red", "green", "blue", "orange", "purple", "yellow", "black", "white"]


def make_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(COLORS):
        img = Image.new("RGB", (160, 120), c)
        ImageDraw.Draw(img).ellipse((20 + i * 5, 20, 120, 100), fill="gray")
        img.save(folder / f"shape_{c}.png")
        (folder / f"note_{c}.txt").write_text(f"Note {i}: the {c} shape is the {i}th of the set. " * 6)
    return folder


def state(lib_path: Path) -> dict:
    """Rows by role per item, orphans, and the items the keyword index knows."""
    import xmodal

    lib = xmodal.open(lib_path, model=MODEL)
    try:
        if not lib.db.has_collection(lib.collection_name):
            return {"items": {}, "orphans": 0, "keyword_items": set()}
        col = lib.db.collection(lib.collection_name)
        items, children = set(), Counter()
        for r in col.scroll():
            if r.payload.get("role") == "item":
                items.add(r.id)
            else:
                children[(r.payload["parent"], r.payload["role"])] += 1
        per_item = {i: sorted((role, n) for (p, role), n in children.items() if p == i) for i in items}
        orphans = sum(n for (p, _), n in children.items() if p not in items)
        with sqlite3.connect(lib.store.keywords.path) as kw:
            keyword_items = {row[0] for row in kw.execute("SELECT DISTINCT item_id FROM passages")}
        return {"items": per_item, "orphans": orphans, "keyword_items": keyword_items}
    finally:
        lib.close()


def index_cmd(lib_path: Path, folder: Path) -> list[str]:
    return [sys.executable, "-m", "xmodal.cli", "index", str(folder), "--db", str(lib_path), "--model", MODEL]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("ref")
    folder = make_folder(base / "media")
    out = subprocess.run(index_cmd(base / "lib", folder), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return folder, state(base / "lib")


def _kill_rounds(tmp_path: Path, reference, rounds: int, seed: int) -> dict:
    folder, ref = reference
    rng = random.Random(seed)
    lib_path = tmp_path / "lib"
    problems: list[str] = []
    for _ in range(rounds):
        proc = subprocess.Popen(index_cmd(lib_path, folder), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(4.0, 25.0))  # model loading takes a few seconds; kills land in encode / write
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        mid = state(lib_path)
        for item, rows in mid["items"].items():
            if rows != ref["items"].get(item):
                problems.append(f"after the kill, item {item[:12]} has rows {rows}, expected {ref['items'].get(item)}")
    out = subprocess.run(index_cmd(lib_path, folder), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    final = state(lib_path)
    if final["items"] != ref["items"]:
        problems.append("after the re-run the library differs from an uninterrupted index")
    if final["orphans"]:
        problems.append(f"{final['orphans']} orphan child rows after the re-run")
    missing_kw = set(final["items"]) - final["keyword_items"]
    if missing_kw:
        problems.append(f"{len(missing_kw)} items have no keyword rows after the re-run")
    return {"kills": rounds, "items": len(ref["items"]), "lost": len(set(ref["items"]) - set(final["items"])),
            "problems": problems}


def test_kill_index_then_rerun_completes(tmp_path: Path, reference) -> None:
    summary = _kill_rounds(tmp_path, reference, SHORT_ROUNDS, seed=3)
    assert summary["lost"] == 0 and not summary["problems"], summary["problems"]


@pytest.mark.slow
def test_kill_index_soak(tmp_path: Path, reference) -> None:
    summary = _kill_rounds(tmp_path, reference, SOAK_ROUNDS, seed=11)
    faults.record("ingest-sigkill", summary)
    assert summary["lost"] == 0 and not summary["problems"], summary["problems"]
