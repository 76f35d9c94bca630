"""The `xmodal` command as users run it: JSON contract, progress bars in a terminal, Ctrl-C."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from PIL import Image, ImageDraw

from tests.ingest.conftest import SAMPLES
from xmodal.config import CONFIG

# An image-only model: the interrupt test needs real encoding work, not speech or OCR.
IMAGE_MODEL = "efficientnet-lite0"
TEXT_MODEL = "minilm"  # a text-only library: documents need no image tower
N_IMAGES = 64
BATCH_FILES = CONFIG.ingest.batch_files
PAUSE_HOOK = "XMODAL_PAUSE_AFTER_BATCH"  # the CLI's test hook: pause after the N-th written batch
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "120", "NO_COLOR": "1"}


def xmodal(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "xmodal.cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"xmodal {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def many_images(tmp_path_factory) -> Path:
    """Distinct generated pictures (shapes in colours), enough to interrupt mid-run."""
    folder = tmp_path_factory.mktemp("many")
    for i in range(N_IMAGES):
        img = Image.new("RGB", (96, 96), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
        draw = ImageDraw.Draw(img)
        draw.ellipse([i % 40, i % 30, 50 + i % 45, 60 + i % 35], fill=((i * 17) % 256, 255 - i % 256, 120))
        img.save(folder / f"shape-{i:03d}.png")
    return folder


def test_json_search_contract(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("guitar-tuning.md", "volcanoes.txt", "bicycle-repair.html"):
        (folder / name).write_bytes((SAMPLES / "documents" / name).read_bytes())
    db = tmp_path / "lib.xmdb"
    report = json.loads(xmodal("index", str(folder), "--db", str(db), "--model", TEXT_MODEL, "--json").stdout)
    assert report["encoded"] == 3 and report["indexed"]["text"] == 3
    out = xmodal("search", "lava and ash", "--db", str(db), "--json", "-k", "2").stdout
    results = json.loads(out)
    assert isinstance(results, list) and len(results) == 2
    top = results[0]
    assert Path(top["path"]).name == "volcanoes.txt"
    assert top["kind"] == "text" and isinstance(top["score"], float) and "lava" in top["evidence"]["text"]
    info = json.loads(xmodal("info", "--db", str(db), "--json").stdout)
    assert info["items"] == 3 and info["model"] == TEXT_MODEL
    wrong = xmodal("search", "lava", "--db", str(db), "--model", IMAGE_MODEL, check=False)
    assert wrong.returncode == 1 and "indexed with model" in wrong.stderr
    bad = xmodal("search", "--db", str(db), check=False)
    assert bad.returncode == 1 and "exactly one" in bad.stderr
    assert "removed 1 path" in xmodal("rm", str(folder / "volcanoes.txt"), "--db", str(db)).stdout
    assert json.loads(xmodal("info", "--db", str(db), "--json").stdout)["items"] == 2


def _spawn(*args: str, env: dict | None = None) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "xmodal.cli", *args], env=env or ENV, encoding="utf-8", timeout=240,
                         dimensions=(40, 120))


def test_progress_bars_and_summary_in_a_terminal(tmp_path, many_images):
    folder = tmp_path / "few"
    folder.mkdir()
    for p in sorted(many_images.iterdir())[:20]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    child = _spawn("index", str(folder), "--db", str(tmp_path / "lib"), "--model", IMAGE_MODEL, "--no-ocr")
    child.expect("scan")
    for phase in ("decode", "encode", "write"):
        child.expect(phase)
    child.expect("/s")  # a rate column
    child.expect("index summary")
    child.expect("image")
    child.expect("failed:")
    child.expect("corrupt.png: ")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_ctrl_c_stops_cleanly_and_keeps_what_was_written(tmp_path, many_images):
    db = str(tmp_path / "lib")
    # The run pauses after its first written batch (test hook), so Ctrl-C lands mid-run however
    # fast or slow the machine is.
    child = _spawn("index", str(many_images), "--db", db, "--model", IMAGE_MODEL, "--no-ocr",
                   env={**ENV, PAUSE_HOOK: "1"})
    child.expect(r"paused after batch 1 \((\d+) items written\)")
    written = int(child.match.group(1))
    child.sendintr()
    child.expect("interrupted")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    kept = json.loads(xmodal("info", "--db", db, "--json").stdout)["items"]
    assert kept == written == BATCH_FILES
    # The rest, by two worker processes (the local pool), each loading the model once.
    rest = json.loads(xmodal("index", str(many_images), "--db", db, "--no-ocr", "--workers", "2", "--json").stdout)
    assert rest["encoded"] == N_IMAGES - kept and sum(rest["skipped"].values()) == kept
