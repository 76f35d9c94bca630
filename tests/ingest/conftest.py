"""Shared fixtures: a real mixed-media folder (the bundled samples plus corrupt files) indexed once
per session with a real model, and small scratch folders for tests that change files."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "media"
QUERIES = ROOT / "samples" / "queries"
# The library's default model (the trained heads ship in xmodal/encoders/weights).
MODEL = "xmodal-lite"
CORRUPT = {
    "images/broken.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x13\x37" * 50,
    "images/empty.png": b"",
    "documents/fake.pdf": b"%PDF-1.4\n this is not a pdf body",
    "video/truncated.mp4": None,  # the first bytes of the real video
}


def make_corrupt_folder(dest: Path) -> Path:
    """One corrupt file per decoder family (named like the real thing)."""
    video = (SAMPLES / "video" / "city-tour.mp4").read_bytes()
    for rel, data in CORRUPT.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(video[:600] if data is None else data)
    return dest


@pytest.fixture(scope="session")
def mixed(tmp_path_factory):
    """(library, corrupt folder, first index report, snapshot of the library folder).

    The bundled samples and a folder of corrupt files are indexed together, once; the tests only
    read it. The snapshot (taken while closed) lets other tests start from an indexed library.
    """
    import xmodal

    base = tmp_path_factory.mktemp("mixed")
    corrupt = make_corrupt_folder(base / "corrupt")
    lib = xmodal.open(base / "lib.xmdb", model=MODEL)
    report = lib.index([SAMPLES, corrupt], progress=False)
    lib.close()
    snapshot = base / "snapshot.xmdb"
    shutil.copytree(base / "lib.xmdb", snapshot)
    lib = xmodal.open(base / "lib.xmdb")
    yield lib, corrupt, report, snapshot
    lib.close()
