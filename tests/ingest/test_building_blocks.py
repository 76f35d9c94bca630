"""The pure pieces of ingestion: walking, hashing, the incremental plan, BM25, fusion."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from xmodal.errors import NotFound
from xmodal.ingest.files import FileEntry, scan, under
from xmodal.ingest.fusion import rrf
from xmodal.ingest.hashing import content_hash
from xmodal.ingest.keywords import KeywordIndex
from xmodal.ingest.plan import StoredState, make_plan


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_scan_finds_supported_files_only_sorted_and_once(tmp_path):
    _touch(tmp_path / "b" / "song.mp3")
    _touch(tmp_path / "a" / "photo.JPG")
    _touch(tmp_path / "a" / "notes.txt")
    _touch(tmp_path / "a" / "program.exe")
    _touch(tmp_path / ".hidden" / "secret.png")
    _touch(tmp_path / "a" / ".DS_Store")
    found = list(scan([tmp_path, tmp_path / "a"]))  # overlapping roots: each file once
    names = [Path(e.path).name for e in found]
    assert names == ["notes.txt", "photo.JPG", "song.mp3"]
    assert [e.kind_hint for e in found] == ["text", "image", "audio"]
    assert all(os.path.isabs(e.path) for e in found)


def test_scan_refuses_a_missing_path_before_yielding(tmp_path):
    with pytest.raises(NotFound, match="nope"):
        scan([tmp_path, tmp_path / "nope"])


def test_under_matches_folders_not_prefixes():
    assert under("/a/b/c.png", ["/a/b"])
    assert under("/a/b", ["/a/b"])
    assert not under("/a/bc/d.png", ["/a/b"])


def test_content_hash_depends_on_bytes_only(tmp_path):
    a = _touch(tmp_path / "a.bin", b"same")
    b = _touch(tmp_path / "other" / "b.bin", b"same")
    c = _touch(tmp_path / "c.bin", b"different")
    assert content_hash(a) == content_hash(b) != content_hash(c)
    assert len(content_hash(a)) == 32


def _entry(path: str, size: int = 1, mtime: float = 1.0, kind: str = "image") -> FileEntry:
    return FileEntry(path, size, mtime, kind)


def test_plan_skips_unchanged_without_hashing_and_sorts_the_rest():
    state = StoredState.from_items([
        ("h1", {"/r/same.png": {"size": 1, "mtime": 1.0}}),
        ("h2", {"/r/changed.png": {"size": 1, "mtime": 1.0}}),
        ("h3", {"/r/gone.png": {"size": 1, "mtime": 1.0}, "/elsewhere/gone.png": {"size": 1, "mtime": 1.0}}),
    ])
    hashed = []
    digests = {"/r/changed.png": "h9", "/r/new.png": "h8", "/r/copy.png": "h1", "/r/new2.png": "h8"}

    def hasher(path):
        hashed.append(path)
        return digests[path]

    entries = [_entry("/r/same.png"), _entry("/r/changed.png", mtime=2.0), _entry("/r/new.png"),
               _entry("/r/copy.png"), _entry("/r/new2.png")]
    plan = make_plan(entries, state, hasher, roots=["/r"], prune=True)
    assert "/r/same.png" not in hashed
    assert [e.path for e in plan.unchanged] == ["/r/same.png"]
    assert {d: [e.path for e in es] for d, es in plan.encode.items()} == {
        "h9": ["/r/changed.png"], "h8": ["/r/new.png", "/r/new2.png"]}
    assert [e.path for e in plan.attach["h1"]] == ["/r/copy.png"]
    assert plan.detach == {"/r/changed.png": "h2"}
    assert plan.removed == ["/r/gone.png"]  # /elsewhere is outside the scanned root


def test_plan_reports_unreadable_files_and_goes_on():
    def hasher(path):
        if path.endswith("bad.png"):
            raise PermissionError(13, "Permission denied")
        return "h"

    plan = make_plan([_entry("/r/bad.png"), _entry("/r/ok.png")], StoredState(), hasher)
    assert [(e.path, "Permission denied" in why) for e, why in plan.failed] == [("/r/bad.png", True)]
    assert list(plan.encode) == ["h"]


def test_keyword_index_ranks_filters_and_deletes(tmp_path):
    kw = KeywordIndex(tmp_path / "kw.sqlite")
    kw.add([("a:1", "a", "text", "How to tune a guitar string"),
            ("b", "b", "audio", "The next train leaves from platform four"),
            ("c", "c", "text", "大熊猫生活在中国四川的竹林里"),
            ("d", "d", "image", "")])
    assert [i for _, i, _ in kw.search("guitar", 10)] == ["a"]
    assert [i for _, i, _ in kw.search('train" OR (platform', 10)] == ["b"]  # punctuation is harmless
    assert [i for _, i, _ in kw.search("熊猫", 10)] == ["c"]
    assert kw.search("guitar", 10, kinds=["audio"]) == []
    assert kw.count() == 3
    kw.delete_items(["a"])
    assert kw.search("guitar", 10) == []
    kw.close()


def test_rrf_rewards_agreement_and_is_deterministic():
    fused = rrf({"v": ["x", "y", "z"], "t": ["y", "x"], "kw": ["y"]}, k=60)
    assert [key for key, _ in fused] == ["y", "x", "z"]
    tie = rrf({"a": ["p"], "b": ["q"]}, k=60)
    assert [key for key, _ in tie] == ["p", "q"]
    weighted = rrf({"a": ["p"], "b": ["q"]}, weights={"b": 2.0}, k=60)
    assert weighted[0][0] == "q"


def test_plan_reports_empty_files_without_hashing_and_forgets_emptied_ones():
    state = StoredState.from_items([("h1", {"/r/was-full.txt": {"size": 5, "mtime": 1.0}})])
    hashed = []

    def hasher(path):
        hashed.append(path)
        return "h"

    plan = make_plan([_entry("/r/empty.txt", size=0), _entry("/r/was-full.txt", size=0, mtime=2.0)], state, hasher)
    assert hashed == [] and not plan.encode
    assert [(e.path, why) for e, why in plan.failed] == [
        ("/r/empty.txt", "/r/empty.txt: empty file (0 bytes)"),
        ("/r/was-full.txt", "/r/was-full.txt: empty file (0 bytes)")]
    assert plan.removed == ["/r/was-full.txt"]  # its old content is no longer this file's


def test_scan_skips_library_folders_and_excluded_paths(tmp_path):
    from xmodal.db import Database

    (tmp_path / "note.txt").write_text("a note")
    Database(tmp_path / "old.xmdb").close()  # a real library folder, with a media-like file inside
    (tmp_path / "old.xmdb" / "thumb.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "side").mkdir()
    (tmp_path / "side" / "thumb.jpg").write_bytes(b"\xff\xd8\xff")
    found = [Path(e.path).relative_to(tmp_path).as_posix() for e in scan([tmp_path], exclude=[tmp_path / "side"])]
    assert found == ["note.txt"]
    assert list(scan([tmp_path / "old.xmdb"])) == []  # named directly: still not media
