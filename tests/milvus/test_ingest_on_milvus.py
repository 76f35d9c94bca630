"""The media library runs unchanged on Milvus Lite and on a Milvus standalone server, and a Ray job
encodes for it.

A tiny folder (three real photos from the samples, two text files written here) is indexed through
``xmodal.open("milvus-lite:...")``, ``xmodal.open("milvus://...")`` and through the embedded engine;
all must find the same items in the same order. Then the same folder is indexed again with decoding and encoding done by a local Ray
instance, which must store the same rows.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import xmodal
from xmodal.ingest.distributed import ray_runner

ROOT = Path(__file__).resolve().parents[2]
MODEL = "label-bridge"  # cross-modal without a training run
RAY_MODEL = "efficientnet-lite0"  # image tower alone: the Ray test measures plumbing, not the model
MILVUS = ("milvus-lite", "milvus")
PHOTOS = ("cat.jpg", "elephant.jpg", "red-apple.png")
TEXTS = {
    "volcano-notes.txt": "Volcanoes erupt when molten rock called magma rises; lava flows and ash clouds follow.",
    "bread.md": "# Bread\nMix flour, water, salt and yeast, knead the dough, let it rise, then bake it in a hot oven.",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    base = tmp_path_factory.mktemp("media")
    for name in PHOTOS:
        shutil.copy(ROOT / "samples" / "media" / "images" / name, base / name)
    for name, text in TEXTS.items():
        (base / name).write_text(text)
    return base


@pytest.fixture(scope="module")
def libraries(folder, tmp_path_factory, milvus_server):
    root = tmp_path_factory.mktemp("libs")
    libs = {"embedded": xmodal.open(root / "lib.xmdb", model=MODEL),
            "milvus-lite": xmodal.open(f"milvus-lite:{root / 'lib.db'}", model=MODEL),
            "milvus": xmodal.open(f"milvus://{milvus_server}/ingest", model=MODEL)}
    reports = {k: lib.index([folder], ocr=False, speech=False, progress=False) for k, lib in libs.items()}
    yield libs, reports, root
    for lib in libs.values():
        lib.close()


def _rows(lib) -> dict:
    col = lib.db.collection(lib.collection_name)
    return {r.id: r for r in col.scroll(with_vectors=True)}


def test_library_indexes_and_searches_on_milvus_like_on_the_embedded_engine(libraries):
    libs, reports, _ = libraries
    for backend in MILVUS:
        assert reports[backend].indexed == reports["embedded"].indexed == {"image": 3, "text": 2, "audio": 0, "video": 0}
        assert not reports[backend].failed
    queries = [("a photo of a cat", "cat.jpg"), ("lava and magma from a mountain", "volcano-notes.txt"),
               ("how to bake bread", "bread.md"), ("an elephant", "elephant.jpg")]
    for text, expected in queries:
        got = {k: lib.search(text=text, k=5) for k, lib in libs.items()}
        names = {k: [Path(r.path).name for r in res] for k, res in got.items()}
        assert names["embedded"][0] == expected, (text, names)
        for backend in MILVUS:
            assert names[backend] == names["embedded"], (backend, text)
            np.testing.assert_allclose([r.score for r in got[backend]], [r.score for r in got["embedded"]],
                                       rtol=1e-4, atol=1e-5)
    assert all(libs[backend].info()["items"] == 5 for backend in MILVUS)


@pytest.mark.parametrize("backend", MILVUS)
def test_reindex_on_milvus_skips_unchanged_files_and_remove_forgets(libraries, folder, backend):
    libs, _, _ = libraries
    lib = libs[backend]
    again = lib.index([folder], ocr=False, speech=False, progress=False)
    assert again.rows_written == 0 and sum(again.skipped.values()) == 5
    assert lib.remove([folder / "bread.md"]) == 1
    assert "bread.md" not in [Path(r.path).name for r in lib.search(text="how to bake bread", k=5)]
    assert lib.index([folder], ocr=False, speech=False, progress=False).indexed["text"] == 1


def test_ray_job_encodes_the_same_rows_into_milvus_lite(folder, tmp_path):
    """Two photos (a small job: Ray's start-up is the cost here), image tower only, encoded in this
    process and by a local Ray instance: the stored rows must match."""
    small = tmp_path / "small"
    small.mkdir()
    for name in ("cat.jpg", "elephant.jpg"):
        shutil.copy(folder / name, small / name)
    libs = {k: xmodal.open(f"milvus-lite:{tmp_path / k}.db", model=RAY_MODEL) for k in ("local", "ray")}
    try:
        reports = {"local": libs["local"].index([small], progress=False, ocr=False, speech=False),
                   "ray": libs["ray"].index([small], progress=False, runner=ray_runner(
                       libs["ray"], address="local", workers=1, ocr=False, speech=False))}
        for report in reports.values():
            assert report.indexed["image"] == 2 and not report.failed
        local, remote = _rows(libs["local"]), _rows(libs["ray"])
        assert set(remote) == set(local) and len(remote) >= 2
        for rid, rec in remote.items():
            assert set(rec.vectors) == set(local[rid].vectors)
            for f, v in rec.vectors.items():
                np.testing.assert_allclose(v, local[rid].vectors[f], atol=1e-4)
            assert rec.payload["path"] == local[rid].payload["path"]  # the user's path, not the worker's copy
        thumbs = [r.payload["thumbnail"] for r in remote.values() if r.payload.get("thumbnail")]
        assert len(thumbs) == 2 and all(Path(t).is_file() for t in thumbs)
    finally:
        for lib in libs.values():
            lib.close()
