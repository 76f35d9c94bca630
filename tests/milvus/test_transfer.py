"""Export / import: collections move between backends and Parquet whole, and resume after a crash."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.milvus.conftest import clustered
from xmodal.cli import main as cli
from xmodal.db import connect
from xmodal.db.api import VectorField
from xmodal.db.transfer import CollectionSink, CollectionSource, ParquetSink, ParquetSource, transfer
from xmodal.errors import InvalidInput, NotFound, StorageError

SCHEMA = {"kind": "str", "year": "int", "tags": "list[str]"}
N = 230


class Crash(Exception):
    pass


class CrashingSource:
    """A real source that dies after ``after`` batches, like a killed process."""

    def __init__(self, inner, after: int):
        self.inner, self.after = inner, after
        self.description, self.schema = inner.description, inner.schema

    def count(self):
        return self.inner.count()

    def batches(self, size):
        for i, b in enumerate(self.inner.batches(size)):
            if i == self.after:
                raise Crash()
            yield b


def fill(col, n=N):
    v = clustered(n, 8, seed=5)
    w = clustered(n, 4, seed=6)
    ids = [i if i % 2 else f"s-{i}" for i in range(n)]
    payloads = [{"kind": ("image", "text")[i % 2], "year": 2000 + i % 20, "tags": ["a"] if i % 3 else [],
                 "free": {"x": [i, "y"]}} for i in range(n)]
    col.upsert(ids[:200], {"v": v[:200], "w": w[:200]}, payloads[:200])
    col.upsert(ids[200:], {"w": w[200:]}, payloads[200:])  # rows lacking "v"
    return ids


def snapshot(col):
    """Every row, comparable across backends."""
    out = {}
    for r in col.scroll(with_vectors=True):
        out[(type(r.id).__name__, str(r.id))] = (r.payload, {f: np.round(v, 6).tolist() for f, v in r.vectors.items()})
    return out


@pytest.fixture(params=["milvus-lite", "milvus"])
def milvus_dest(request, tmp_path) -> str:
    """A Milvus destination: a Milvus Lite file, or a fresh database on the session's standalone server."""
    if request.param == "milvus":
        return request.getfixturevalue("milvus_uri")
    return f"milvus-lite:{tmp_path / 'dest.db'}"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("src")
    db = connect(str(folder / "embedded"))
    col = db.create_collection("media", {"v": VectorField(8, "cosine", "hnsw"), "w": VectorField(4, "l2")}, SCHEMA,
                               metadata={"model": "xmodal-lite", "dim": 8})
    fill(col)
    yield db, col
    db.close()


def test_embedded_to_parquet_to_milvus_round_trip(source, tmp_path, milvus_dest):
    db, col = source
    rep = transfer(CollectionSource(col, "src"), ParquetSink(tmp_path / "exp"), batch_size=64)
    assert rep.rows == N and rep.batches == 4
    assert sorted(p.name for p in (tmp_path / "exp").glob("part-*.parquet")) == [f"part-{i:06d}.parquet" for i in range(4)]
    manifest = json.loads((tmp_path / "exp" / "_manifest.json").read_text())
    assert manifest["complete"] and manifest["rows"] == N and manifest["collection"] == "media"
    lite = connect(milvus_dest)
    try:
        rep2 = transfer(ParquetSource(tmp_path / "exp"), CollectionSink(lite, "copy", "lite"), batch_size=100)
        assert rep2.rows == N
        dest = lite.collection("copy")
        assert dest.metadata == {"model": "xmodal-lite", "dim": 8}
        assert dest.payload_schema == SCHEMA
        assert {f: (v.dim, v.metric, v.index) for f, v in dest.vector_fields.items()} == \
            {"v": (8, "cosine", "hnsw"), "w": (4, "l2", "flat")}
        assert snapshot(dest) == snapshot(col)
        q = clustered(3, 4, seed=9)
        assert [[h.id for h in hs] for hs in dest.search("w", q, k=7)] == \
            [[h.id for h in hs] for hs in col.search("w", q, k=7)]
    finally:
        lite.close()


def test_interrupted_export_resumes_where_it_stopped(source, tmp_path):
    """Resuming is the transfer's own logic, the same on every sink: Milvus Lite stands for them."""
    db, col = source
    lite = connect(f"milvus-lite:{tmp_path / 'dest.db'}")
    try:
        ckpt = tmp_path / "ckpt.json"
        with pytest.raises(Crash):
            transfer(CrashingSource(CollectionSource(col, "src"), after=2), CollectionSink(lite, "m", "lite"),
                     checkpoint=ckpt, batch_size=50)
        assert json.loads(ckpt.read_text())["rows"] == 100
        assert lite.collection("m").count() == 100
        rep = transfer(CollectionSource(col, "src"), CollectionSink(lite, "m", "lite"), checkpoint=ckpt,
                       batch_size=50)
        assert (rep.skipped, rep.rows, rep.restarted) == (100, N - 100, False)
        assert not ckpt.exists()
        assert snapshot(lite.collection("m")) == snapshot(col)
    finally:
        lite.close()


def test_checkpoint_that_no_longer_matches_the_source_starts_over(tmp_path):
    src_db = connect(str(tmp_path / "e"))
    col = src_db.create_collection("c", {"v": VectorField(8, "cosine"), "w": VectorField(4, "l2")}, SCHEMA)
    ids = fill(col)
    out = tmp_path / "exp"
    with pytest.raises(Crash):
        transfer(CrashingSource(CollectionSource(col, "src"), after=1), ParquetSink(out), batch_size=60)
    col.delete(ids=ids[:30])  # the source changes under the checkpoint
    rep = transfer(CollectionSource(col, "src"), ParquetSink(out), batch_size=60)
    assert rep.restarted and rep.rows == N - 30
    dest = connect(str(tmp_path / "d"))
    transfer(ParquetSource(out), CollectionSink(dest, "c", "d"))
    assert snapshot(dest.collection("c")) == snapshot(col)
    dest.close()
    # Into a collection the transfer created: rows deleted from the source must not linger there.
    lite = connect(f"milvus-lite:{tmp_path / 'l.db'}")
    ckpt = tmp_path / "c.json"
    with pytest.raises(Crash):
        transfer(CrashingSource(CollectionSource(col, "src"), after=2), CollectionSink(lite, "c", "l"),
                 checkpoint=ckpt, batch_size=60)
    col.delete(ids=ids[30:40])
    rep = transfer(CollectionSource(col, "src"), CollectionSink(lite, "c", "l"), checkpoint=ckpt, batch_size=60)
    assert rep.restarted and snapshot(lite.collection("c")) == snapshot(col)
    lite.close()
    src_db.close()


def test_cli_export_and_import(source, tmp_path, capsys, monkeypatch, milvus_dest):
    db, col = source
    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))
    db_uri = db_path = str(tmp_path / "cli-src")
    src = connect(db_path)
    fill(src.create_collection("media", {"v": VectorField(8, "cosine"), "w": VectorField(4, "l2")}, SCHEMA,
                               metadata={"model": "m"}))
    src.close()
    assert cli(["export", "--db", db_uri, "--collection", "media", "--to", f"parquet:{tmp_path / 'p'}",
                "--batch", "100", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == N
    lite_uri = milvus_dest
    assert cli(["import", str(tmp_path / "p"), "--db", lite_uri, "--collection", "again", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == N
    assert cli(["export", "--db", lite_uri, "--collection", "again", "--to", str(tmp_path / "back"),
                "--as", "media2"]) == 0
    assert "230 rows" in capsys.readouterr().out
    a, b = connect(db_path), connect(str(tmp_path / "back"))
    assert snapshot(a.collection("media")) == snapshot(b.collection("media2"))
    assert b.collection("media2").metadata == {"model": "m"}
    a.close()
    b.close()
    assert cli(["import", str(tmp_path / "nothing"), "--db", lite_uri]) == 1
    assert "no _manifest.json" in capsys.readouterr().err


def test_bad_sources_and_sinks_are_refused_without_changes(source, tmp_path):
    db, col = source
    with pytest.raises(NotFound, match="_manifest.json"):
        ParquetSource(tmp_path)
    with pytest.raises(Crash):
        transfer(CrashingSource(CollectionSource(col, "src"), after=1), ParquetSink(tmp_path / "half"), batch_size=40)
    with pytest.raises(StorageError, match="incomplete"):
        ParquetSource(tmp_path / "half")
    other = connect(str(tmp_path / "o"))
    other.create_collection("media", {"v": VectorField(16, "cosine")})
    with pytest.raises(InvalidInput, match="vector fields"):
        transfer(CollectionSource(col, "src"), CollectionSink(other, "media", "o"))
    assert other.collection("media").count() == 0
    other.close()


def test_closing_milvus_lite_frees_the_file_for_another_process(source, tmp_path):
    """Milvus Lite locks its file while open; the last close must release it, or a CLI run (another
    process) could not read what this process wrote."""
    import subprocess
    import sys

    db, col = source
    lite_uri = f"milvus-lite:{tmp_path / 'shared.db'}"
    transfer(CollectionSource(col, "src"), *[CollectionSink(lite := connect(lite_uri), "media", "lite")])
    lite.close()
    run = subprocess.run([sys.executable, "-m", "xmodal.cli", "export", "--db", lite_uri, "--collection", "media",
                          "--to", f"parquet:{tmp_path / 'out'}", "--json"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1])["rows"] == N
    again = connect(lite_uri)  # and this process can open it again afterwards
    assert again.collection("media").count() == N
    again.close()
