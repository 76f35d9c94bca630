"""The `xmodal` command's errors, run as real processes: no side effects, usage that helps, a
closed pipe ends quietly, and a library never indexes itself."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.ingest.conftest import SAMPLES

TEXT_MODEL = "minilm"
IMAGE_MODEL = "efficientnet-lite0"
ROOT = Path(__file__).resolve().parents[2]
# No XMODAL_DB from the caller's shell: tests that rely on the default library path set their cwd.
ENV = {k: v for k, v in os.environ.items() if k != "XMODAL_DB"} | {
    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "200", "NO_COLOR": "1",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
ENV.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)  # the CLI's own default is under test
READ_COMMANDS = [("search", "lava"), ("similar", "x.txt"), ("info",), ("ask", "what erupts?"), ("recommend", "ann"),
                 ("history", "ann"), ("rm", "x.txt")]


def xmodal(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xmodal.cli", *args], capture_output=True, text=True, env=ENV,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def text_library(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """Three documents, an empty file and a corrupt picture indexed with a text-only model."""
    base = tmp_path_factory.mktemp("textlib")
    folder = base / "docs"
    folder.mkdir()
    for name in ("guitar-tuning.md", "volcanoes.txt", "bicycle-repair.html"):
        (folder / name).write_bytes((SAMPLES / "documents" / name).read_bytes())
    (folder / "empty.txt").write_bytes(b"")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    db = base / "lib.xmdb"
    run = xmodal("index", str(folder), "--db", str(db), "--model", TEXT_MODEL)
    assert run.returncode == 0, run.stderr
    return folder, db, run


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: c[0])
def test_read_commands_on_a_missing_library_fail_and_create_nothing(tmp_path, command):
    missing = tmp_path / "typo.xmdb"
    run = xmodal(*command, "--db", str(missing))
    assert run.returncode == 1, run.stderr
    assert f"no library at {missing}" in run.stderr
    assert not missing.exists()
    # An existing folder that holds no library (e.g. the media folder itself) gets nothing written.
    plain = tmp_path / "plain"
    plain.mkdir()
    run = xmodal(*command, "--db", str(plain))
    assert run.returncode == 1 and f"no library at {plain}" in run.stderr
    assert list(plain.iterdir()) == []


def test_default_library_is_required_too(tmp_path):
    run = xmodal("search", "lava", cwd=tmp_path)
    assert run.returncode == 1 and "no library at xmodal.db" in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_collection_is_named(text_library):
    _, db, _ = text_library
    run = xmodal("search", "lava", "--db", str(db), "--collection", "photos")
    assert run.returncode == 1
    assert "collection 'photos'" in run.stderr and "media" in run.stderr


def test_index_of_a_missing_folder_or_unknown_model_leaves_no_library(tmp_path):
    db = tmp_path / "lib.xmdb"
    run = xmodal("index", str(tmp_path / "nowhere"), "--db", str(db))
    assert run.returncode == 1 and f"{tmp_path / 'nowhere'}: no such file or folder" in run.stderr
    assert not db.exists()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("lava flows")
    run = xmodal("index", str(docs), "--db", str(db), "--model", "minilmm")
    assert run.returncode == 1 and "unknown model 'minilmm'" in run.stderr and "did you mean minilm?" in run.stderr
    assert not db.exists()
    # A name of the clip: family passes the name check but fails to load: still nothing left behind.
    run = xmodal("index", str(docs), "--db", str(db), "--model", f"clip:{tmp_path / 'no-such-model'}")
    assert run.returncode != 0
    assert not db.exists()


@pytest.mark.parametrize("flag, hint", [("--k", "-k"), ("--jsn", "--json"), ("--kinds", "--kind")])
def test_bad_flag_shows_the_subcommands_usage_and_a_suggestion(tmp_path, flag, hint):
    run = xmodal("search", "lava", flag, "3", "--db", str(tmp_path / "lib"))
    assert run.returncode == 2
    assert "usage: xmodal search" in run.stderr
    assert f"unrecognized arguments: {flag} 3 (did you mean {hint}?)" in run.stderr
    assert not (tmp_path / "lib").exists()


def test_mistyped_command_gets_a_suggestion():
    run = xmodal("serch", "lava")
    assert run.returncode == 2 and "did you mean search?" in run.stderr


def test_closed_pipe_ends_quietly(text_library):
    """`xmodal search ... --json | head -1`: the reader is gone before anything is written."""
    _, db, _ = text_library
    proc = subprocess.Popen([sys.executable, "-m", "xmodal.cli", "search", "lava", "--db", str(db), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True)
    proc.stdout.close()  # like `head` having exited: every write now fails with EPIPE
    err = proc.stderr.read()
    proc.wait(timeout=300)
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


def test_failure_lines_name_the_path_once_and_empty_files_say_so(text_library):
    folder, _, run = text_library
    lines = [line.strip() for line in run.stdout.splitlines()]
    empty = [line for line in lines if "empty.txt" in line]
    assert empty == [f"{folder / 'empty.txt'}: empty file (0 bytes)"]
    corrupt = [line for line in lines if "corrupt.png" in line]
    assert len(corrupt) == 1 and corrupt[0].count("corrupt.png") == 1, corrupt
    # The model load itself printed no progress bar.
    assert "Loading weights" not in run.stderr and "it/s" not in run.stderr


def test_index_dot_with_the_default_library_inside_never_indexes_the_library(tmp_path):
    """`cd photos && xmodal index .` puts ./xmodal.db inside the folder it indexes: its thumbnails
    and index files are not media, and another library folder in there is skipped as well."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.new("RGB", (64, 64), (80 * i, 200 - 60 * i, 40)).save(photos / f"p{i}.jpg")
    other = xmodal("index", str(photos / "p0.jpg"), "--db", str(photos / "backup.xmdb"), "--model", IMAGE_MODEL,
                   "--no-ocr")
    assert other.returncode == 0, other.stderr
    assert list((photos / "backup.xmdb").rglob("*.jpg")), "the other library keeps a thumbnail (media-like file)"
    first = xmodal("index", ".", "--model", IMAGE_MODEL, "--no-ocr", "--json", cwd=photos)
    assert first.returncode == 0, first.stderr
    assert (photos / "xmodal.db").is_dir() and list((photos / "xmodal.db").rglob("*.jpg"))
    assert json.loads(first.stdout)["encoded"] == 3
    again = json.loads(xmodal("index", ".", "--json", "--no-ocr", cwd=photos).stdout)
    assert again["encoded"] == 0 and sum(again["skipped"].values()) == 3 and not again["failed"]
    info = json.loads(xmodal("info", "--json", cwd=photos).stdout)
    assert info["items"] == 3 and info["paths"] == 3


def test_files_of_an_unread_type_are_named_in_the_summary_not_dropped_silently(tmp_path):
    """A folder holds a photo, a gzipped README, a Word file and a Makefile: the photo is indexed and
    the summary says which types were left out (``xmodal index README.gz`` alone must not look like
    a silent success either)."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(folder / "red.jpg")
    (folder / "README.gz").write_bytes(b"\x1f\x8b\x08\x00not really")
    (folder / "letter.docx").write_bytes(b"PK\x03\x04")
    (folder / "Makefile").write_text("all:\n")
    db = tmp_path / "lib.xmdb"
    run = xmodal("index", str(folder), "--db", str(db), "--model", IMAGE_MODEL, "--no-ocr", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["encoded"] == 1 and not report["failed"]
    assert report["unsupported"] == {".gz": 1, ".docx": 1, "": 1}
    shown = xmodal("index", str(folder / "README.gz"), "--db", str(db), "--no-ocr")
    assert shown.returncode == 0, shown.stderr
    assert "1 file of a type xmodal does not read, left out: .gz 1" in shown.stdout + shown.stderr
