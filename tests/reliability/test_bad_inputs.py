"""Every class of bad input gets a clear error naming the item, and nothing stored changes."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from xmodal.config import CONFIG
from xmodal.db import Database, VectorField
from xmodal.db.filters import parse_filter
from xmodal.errors import InvalidInput, MediaError, XmodalError
from xmodal.media import detect_kind, load_image, load_text, transcribe, extract_frames
from tests.reliability import bad_corpus

MODEL = "label-bridge"
LOADERS = {"image": load_image, "text": load_text, "audio": transcribe, "video": extract_frames}
EXT_KIND = {".jpg": "image", ".png": "image", ".gif": "image", ".svg": "image", ".wav": "audio", ".ogg": "audio",
            ".mp3": "audio", ".mp4": "video", ".mkv": "video", ".pdf": "text", ".txt": "text", ".html": "text"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("bad")
    return folder, bad_corpus.build(folder, include_accepted=False)


@pytest.mark.parametrize("name", sorted(bad_corpus.CORPUS))
def test_loader_gives_clear_media_error(corpus, name: str) -> None:
    """Each loader the file's name or content points to refuses it with a MediaError naming it."""
    folder, _ = corpus
    path = folder / name
    kind = detect_kind(path)  # never raises on junk: None or a kind
    assert kind in (None, "image", "text", "audio", "video")
    for k in {EXT_KIND[path.suffix], kind} - {None}:
        if k == "text" and path.suffix == ".txt":
            continue  # binary named .txt is caught by kind detection, checked below
        with pytest.raises(MediaError) as err:
            out = LOADERS[k](path)
            if k in ("audio", "video", "text") and not out:
                raise MediaError(f"{path}: empty result")  # an empty decode is no error by itself
        assert name in str(err.value), f"error for {name} does not name the file: {err.value}"


def test_binary_named_txt_is_not_text(corpus) -> None:
    folder, _ = corpus
    assert detect_kind(folder / "binary_named.txt") != "text"


def test_mislabelled_file_is_judged_by_content(tmp_path: Path) -> None:
    bad_corpus.build(tmp_path)
    assert detect_kind(tmp_path / "text_named.jpg") == "text"
    with pytest.raises(MediaError, match="text_named.jpg"):
        load_image(tmp_path / "text_named.jpg")


def test_huge_text_refused_with_limit_named(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    bad_corpus.huge_text(path, CONFIG.media.max_text_bytes + 1000)
    with pytest.raises(MediaError, match=r"huge.txt.*larger than the limit.*max_text_bytes"):
        load_text(path)


def test_bomb_is_refused_before_decoding(corpus) -> None:
    folder, _ = corpus
    with pytest.raises(MediaError, match="bomb.png"):
        load_image(folder / "bomb.png")


def _snapshot(lib) -> dict:
    col = lib.db.collection(lib.collection_name)
    return {r.id: (r.payload, {k: v.tobytes() for k, v in (r.vectors or {}).items()})
            for r in col.scroll(with_vectors=True)}


def test_library_reports_every_bad_file_and_keeps_the_rest(tmp_path: Path) -> None:
    import xmodal

    media = tmp_path / "media"
    media.mkdir()
    Image.new("RGB", (96, 96), (220, 20, 20)).save(media / "red.png")
    (media / "note.txt").write_text("A short note about red apples and green pears.")
    lib = xmodal.open(tmp_path / "lib.xmdb", model=MODEL)
    try:
        first = lib.index([media], progress=False)
        assert first.encoded == 2 and not first.failed
        before = _snapshot(lib)

        classes = bad_corpus.build(media)
        report = lib.index([media], progress=False)
        failed = {Path(f.path).name: f.reason for f in report.failed}
        for name in bad_corpus.CORPUS:
            assert name in failed, f"{name} ({classes[name]}) was not reported as failed"
            assert failed[name].strip(), f"{name} failed without a reason"
        assert set(failed) <= set(bad_corpus.CORPUS), f"good files reported as failed: {set(failed) - set(bad_corpus.CORPUS)}"
        assert report.encoded == len(bad_corpus.ACCEPTED), "the odd-but-valid files were not indexed"
        kinds = {Path(r.path).name: r.kind for r in lib.search(text="lighthouse", k=10)}
        assert kinds.get("text_named.jpg") == "text", f"mislabelled text file not indexed as text: {kinds}"
        after = _snapshot(lib)
        for rid, value in before.items():
            assert after.get(rid) == value, f"stored row {rid} changed while bad files were indexed"
        assert lib.search(text="red apples", k=3), "search broke after the bad corpus"
    finally:
        lib.close()


# ---- vectors, ids, payloads, filters -------------------------------------------------------

@pytest.fixture()
def col(tmp_path: Path):
    db = Database(tmp_path / "db")
    c = db.create_collection("c", vectors={"v": VectorField(dim=8, metric="cosine")},
                             payload_schema={"kind": "str", "year": "int"})
    c.upsert(["a", "b"], {"v": np.eye(8, dtype=np.float32)[:2]}, payloads=[{"kind": "x", "year": 1}, {"kind": "y", "year": 2}])
    yield c
    db.close()


def _state(c) -> list:
    return [(r.id, r.payload, r.vectors["v"].tobytes()) for r in c.scroll(with_vectors=True)]


bad_vectors = st.one_of(
    st.just(np.full((1, 8), np.nan, dtype=np.float32)),
    st.just(np.full((1, 8), np.inf, dtype=np.float32)),
    st.integers(1, 20).filter(lambda d: d != 8).map(lambda d: np.ones((1, d), dtype=np.float32)),
    st.just(np.ones((2, 8), dtype=np.float32)),  # two rows for one id
    st.just(np.zeros((1, 0), dtype=np.float32)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vec=bad_vectors)
def test_bad_vectors_refused_and_nothing_changes(col, vec) -> None:
    before = _state(col)
    with pytest.raises(InvalidInput):
        col.upsert(["new"], {"v": vec})
    assert _state(col) == before


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad_id=st.one_of(st.floats(allow_nan=True), st.none(), st.booleans(), st.lists(st.integers(), max_size=2),
                        st.binary(max_size=4)))
def test_bad_ids_refused(col, bad_id) -> None:
    before = _state(col)
    with pytest.raises(InvalidInput):
        col.upsert([bad_id], {"v": np.ones((1, 8), dtype=np.float32)})
    assert _state(col) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.one_of(st.just("$where"), st.just(""), st.just("a.b"), st.just("\x00"), st.just("__proto__"),
                     st.just("x" * 10_000), st.text(max_size=30)),
       value=st.one_of(st.integers(), st.text(max_size=20), st.just(math.nan), st.just("'; DROP TABLE rows; --")))
def test_hostile_payload_keys_round_trip_or_refused(col, key, value) -> None:
    """A hostile key is stored verbatim or refused with InvalidInput; nothing else happens."""
    before = _state(col)
    try:
        col.upsert(["h"], {"v": np.ones((1, 8), dtype=np.float32)}, payloads=[{key: value}])
    except InvalidInput:
        assert _state(col) == before
        return
    got = col.get(["h"])[0].payload
    assert key in got and (got[key] == value or (isinstance(value, float) and math.isnan(value)))
    assert len(col.get(["a", "b"])) == 2
    col.delete(ids=["h"])


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(["kind", "year", "$and", "$or", "$not", "$in",
                                                                "$gt", "$eq", "$exists", "$where", "nope", "$regex"]),
                                               children, max_size=3)),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(doc=json_values)
def test_filter_parser_never_crashes(doc) -> None:
    """Any JSON the server could receive parses to an AST or raises InvalidInput -- never anything else."""
    schema = {"kind": "str", "year": "int"}
    try:
        parse_filter(doc if isinstance(doc, dict) else {"kind": doc}, schema)
    except InvalidInput:
        pass


@pytest.mark.parametrize("depth", [50, 5_000])
def test_deep_filters_refused_not_recursion_error(depth: int) -> None:
    doc: dict = {"kind": "x"}
    for _ in range(depth):
        doc = {"$not": doc}
    try:
        parse_filter(doc, {"kind": "str"})
    except InvalidInput as exc:
        assert "deep" in str(exc).lower() or "depth" in str(exc).lower(), str(exc)
    else:
        assert depth <= CONFIG.db.max_filter_depth


def test_filter_on_search_with_malicious_values_is_exact(col) -> None:
    """Values are data, never code: an injection string matches nothing and breaks nothing."""
    hits = col.search("v", np.ones(8, dtype=np.float32), k=5, where={"kind": "x' OR '1'='1"})
    assert hits == [[]]
    with pytest.raises(XmodalError):
        col.search("v", np.ones(8, dtype=np.float32), k=5, where={"kind": {"$regex": ".*"}})
