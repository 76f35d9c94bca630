"""Several `xmodal` processes on one library, synchronised on what they print (never on timing):
readers run beside a writer without taking its lock, and a second writer waits its turn."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from xmodal.config import CONFIG
from xmodal.db.locks import ProcessLock

IMAGE_MODEL = "efficientnet-lite0"
BATCH = CONFIG.ingest.batch_files
ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NO_COLOR": "1",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _pictures(folder: Path, n: int, seed: int) -> Path:
    folder.mkdir()
    for i in range(n):
        j = i + seed * 100
        img = Image.new("RGB", (80, 80), ((j * 37) % 256, (j * 91) % 256, (j * 53) % 256))
        ImageDraw.Draw(img).rectangle([j % 30, j % 20, 40 + j % 35, 50 + j % 25], fill=(255 - j % 256, 90, 200))
        img.save(folder / f"pic-{i:02d}.png")
    return folder


def _start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xmodal.cli", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or ENV)


def _wait_for_line(proc: subprocess.Popen, needle: str) -> str:
    """Read the process's stderr until a line holds ``needle`` (fails if it exits first)."""
    seen = []
    while True:
        line = proc.stderr.readline()
        if not line:
            proc.wait(timeout=60)
            raise AssertionError(f"exited ({proc.returncode}) before printing {needle!r}:\n{''.join(seen)}")
        seen.append(line)
        if needle in line:
            return line


def _run(*args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "xmodal.cli", *args], capture_output=True, text=True, env=ENV,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out


def test_readers_beside_a_writer_and_a_second_writer_waits(tmp_path):
    first = _pictures(tmp_path / "first", BATCH + 4, seed=1)
    second = _pictures(tmp_path / "second", 5, seed=2)
    db = tmp_path / "lib"
    lock = ProcessLock(db)  # only inspected: holder() reads the pid the last writer recorded
    # Writer A pauses (holding the writer lock) right after its first batch is written.
    writer = _start("index", str(first), "--db", str(db), "--model", IMAGE_MODEL, "--no-ocr", "--json",
                    env={**ENV, "XMODAL_PAUSE_AFTER_BATCH": "1"})
    try:
        _wait_for_line(writer, "paused after batch 1")
        # Readers see what is written so far while the writer holds the library.
        assert json.loads(_run("info", "--db", str(db), "--json").stdout)["items"] == BATCH
        near = json.loads(_run("similar", str(first / "pic-00.png"), "--db", str(db), "--json", "-k", "3").stdout)
        assert len(near) == 3 and all(Path(r["path"]).parent == first for r in near)
        # Writer B queues behind A with a message instead of failing after loading its model.
        second_writer = _start("index", str(second), "--db", str(db), "--no-ocr", "--json")
        try:
            line = _wait_for_line(second_writer, "waiting for it to finish")
            assert f"pid {writer.pid}" in line
            writer.stdin.write("\n")  # let A go on
            writer.stdin.flush()
            out, err = writer.communicate(timeout=300)
            assert writer.returncode == 0, err
            assert json.loads(out)["encoded"] == BATCH + 4
            out, err = second_writer.communicate(timeout=300)
            assert second_writer.returncode == 0, err
            assert json.loads(out)["encoded"] == 5
        finally:
            second_writer.kill()
            second_writer.wait()
    finally:
        writer.kill()
        writer.wait()
    assert json.loads(_run("info", "--db", str(db), "--json").stdout)["items"] == BATCH + 4 + 5
    # Readers never take the writer lock: the lock file still names the last writer.
    assert lock.holder() == str(second_writer.pid)
    _run("similar", str(second / "pic-00.png"), "--db", str(db), "--json")
    _run("info", "--db", str(db))
    assert lock.holder() == str(second_writer.pid)
