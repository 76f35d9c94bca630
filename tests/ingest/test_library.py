"""End to end through the Python API on real files of every kind, with real models."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import xmodal
from tests.ingest.conftest import CORRUPT, MODEL, QUERIES, SAMPLES
from xmodal.errors import InvalidInput, ModelMismatch, NotFound
from xmodal.ingest.results import SearchResult

EXPECTED = {"image": 11, "text": 5, "audio": 5, "video": 1}


def _names(results) -> list[str]:
    return [Path(r.path).name for r in results]


def test_first_run_indexes_every_good_file_and_lists_each_failure(mixed):
    lib, corrupt, report, _ = mixed
    assert report.indexed == EXPECTED
    failed = {Path(f.path).name: f.reason for f in report.failed}
    assert set(failed) == {Path(rel).name for rel in CORRUPT}
    for name, reason in failed.items():
        assert name in reason and len(reason) > len(name) + 5, reason
    info = lib.info()
    assert info["items"] == sum(EXPECTED.values())
    assert info["by_kind"] == EXPECTED
    assert info["model"] == MODEL and set(info["fields"]) == {"visual", "text", "sound"}


def test_second_run_over_unchanged_folder_encodes_nothing(mixed):
    lib, corrupt, _, _ = mixed
    rows_before = lib.info()["rows"]
    again = lib.index([SAMPLES, corrupt], progress=False)
    assert again.encoded == 0 and again.rows_written == 0
    assert sum(again.skipped.values()) == sum(EXPECTED.values())
    # the corrupt files are listed again from the failure log, without being decoded again; the
    # empty one is known empty from its size alone (never in the log, never read)
    assert again.known_failures == len(CORRUPT) - sum(data == b"" for data in CORRUPT.values())
    assert {Path(f.path).name for f in again.failed} == {Path(rel).name for rel in CORRUPT}
    assert lib.info()["rows"] == rows_before


def test_text_finds_a_photo(mixed):
    lib, _, _, _ = mixed
    results = lib.search(text="a photo of a cat", kind="image", k=3)
    assert isinstance(results[0], SearchResult)
    assert _names(results)[0] == "cat.jpg"
    assert results[0].kind == "image" and results[0].payload["width"] > 0


def test_text_finds_a_document_passage(mixed):
    lib, _, _, _ = mixed
    results = lib.search(text="how do I repair a punctured tyre", kind="text", k=3)
    assert _names(results)[0] == "bicycle-repair.html"
    assert "tyre" in results[0].evidence["text"]


def test_text_finds_words_inside_a_picture(mixed):
    lib, _, _, _ = mixed
    results = lib.search(text="open 24 hours", k=3)
    assert _names(results)[0] == "bakery-sign.png"
    assert "24" in results[0].evidence["text"]


def test_text_finds_the_moment_something_is_said(mixed):
    lib, _, _, _ = mixed
    results = lib.search(text="train to Cambridge", kind="audio", k=3)
    top = results[0]
    assert Path(top.path).name == "train-announcement.ogg"
    assert top.evidence["time"] >= 0 and "Cambridge" in top.evidence["text"]


def test_text_finds_the_right_second_of_a_video(mixed):
    lib, _, _, _ = mixed
    results = lib.search(text="an airplane", kind="video", k=1)
    assert _names(results) == ["city-tour.mp4"]
    assert 4.0 <= results[0].evidence["time"] < 8.0


def test_image_finds_the_same_subject(mixed):
    lib, _, _, _ = mixed
    results = lib.search(image=QUERIES / "elephant-photo.jpg", kind="image", k=3)
    assert _names(results)[0] == "elephant.jpg"


def test_speech_query_finds_image_and_text(mixed):
    lib, _, _, _ = mixed
    texts = lib.search(audio=QUERIES / "say-guitar.wav", kind="text", k=3)
    assert "guitar" in texts.query_text.lower() and texts.query_language == "en"
    assert _names(texts)[0] == "guitar-tuning.md"
    images = lib.search(audio=QUERIES / "say-guitar.wav", kind="image", k=3)
    assert _names(images)[0] == "guitar.gif"


def test_results_of_every_kind_without_a_kind_filter(mixed):
    lib, _, _, _ = mixed
    kinds = {r.kind for r in lib.search(text="guitar", k=30)}
    assert kinds == {"image", "text", "audio", "video"}


def test_similar_excludes_the_item_itself(mixed):
    lib, corrupt, _, _ = mixed
    cat = SAMPLES / "images" / "cat.jpg"
    results = lib.similar(cat, k=5)
    assert len(results) == 5 and "cat.jpg" not in _names(results)
    with pytest.raises(NotFound, match="nothing-here.png"):
        lib.similar(SAMPLES / "nothing-here.png")


def test_where_filters_on_payload_fields(mixed):
    lib, _, _, _ = mixed
    results = lib.search(text="animal", where={"mime": "image/png"}, k=20)
    assert results and all(r.payload["mime"] == "image/png" for r in results)
    with pytest.raises(InvalidInput, match="colour"):
        lib.search(text="animal", where={"colour": "red"})


@pytest.mark.parametrize("kwargs, match", [
    ({"text": "cat", "k": 0}, "k must be"),
    ({"text": "cat", "kind": "photo"}, "photo"),
    ({}, "exactly one"),
    ({"text": "cat", "image": "x.png"}, "exactly one"),
    ({"text": "   "}, "empty"),
])
def test_bad_queries_raise_typed_errors(mixed, kwargs, match):
    lib, _, _, _ = mixed
    with pytest.raises(InvalidInput, match=match):
        lib.search(**kwargs)


def test_missing_query_file_is_named(mixed):
    lib, _, _, _ = mixed
    with pytest.raises(NotFound, match="no-such.jpg"):
        lib.search(image="no-such.jpg")


def test_another_model_is_refused(mixed):
    lib, _, _, _ = mixed
    with pytest.raises(ModelMismatch, match="minilm"):
        xmodal.open(lib.uri, model="minilm")


# ----------------------------------------------------------- changing files
@pytest.fixture(scope="module")
def small_template(tmp_path_factory):
    """Three files indexed once; each test restores files and library from this pristine copy."""
    base = tmp_path_factory.mktemp("small")
    folder = base / "pristine"
    folder.mkdir()
    for rel in ("images/cat.jpg", "images/red-apple.png", "documents/volcanoes.txt"):
        shutil.copy2(SAMPLES / rel, folder / Path(rel).name)
    work = base / "media"
    shutil.copytree(folder, work)
    with xmodal.open(base / "lib.xmdb", model=MODEL) as lib:
        first = lib.index([work], progress=False, ocr=False)
    assert first.encoded == 3
    return base


@pytest.fixture()
def small(small_template, tmp_path):
    base = small_template
    work = base / "media"
    shutil.rmtree(work)
    shutil.copytree(base / "pristine", work)  # same paths and mtimes as when indexed
    lib_dir = tmp_path / "lib.xmdb"
    shutil.copytree(base / "lib.xmdb", lib_dir)
    lib = xmodal.open(lib_dir)
    assert lib.index([work], progress=False).encoded == 0
    yield lib, work
    lib.close()


def _paths(lib) -> set[str]:
    return {Path(p).name for p in _all_paths(lib)}


def _all_paths(lib) -> list[str]:
    col = lib.db.collection(lib.collection_name)
    return [p for r in col.scroll(where={"role": "item"}) for p in r.payload["files"]]


def test_changed_file_is_re_encoded_and_replaces_the_old_content(small):
    lib, folder = small
    (folder / "volcanoes.txt").write_text("Penguins live in Antarctica and eat fish.", encoding="utf-8")
    report = lib.index([folder], progress=False)
    assert report.indexed["text"] == 1 and report.encoded == 1
    assert lib.info()["items"] == 3
    top = lib.search(text="penguins in Antarctica", kind="text", k=1)[0]
    assert "Penguins" in top.evidence["text"]
    old_words = lib.search(text="magma", kind="text", k=5)
    assert all("magma" not in r.evidence.get("text", "") for r in old_words)


def test_duplicates_are_stored_once_with_all_their_paths(small):
    lib, folder = small
    shutil.copy(folder / "cat.jpg", folder / "same-cat.jpg")
    report = lib.index([folder], progress=False)
    assert report.encoded == 0 and report.duplicates["image"] == 1
    assert lib.info()["items"] == 3
    top = lib.search(text="a photo of a cat", kind="image", k=1)[0]
    assert {Path(p).name for p in top.payload["paths"]} == {"cat.jpg", "same-cat.jpg"}


def test_deleted_file_disappears_only_with_prune(small):
    lib, folder = small
    (folder / "red-apple.png").unlink()
    lib.index([folder], progress=False)
    assert "red-apple.png" in _paths(lib)
    apple = lib.search(text="red apple", kind="image", where={"name": "red-apple.png"}, k=1)[0]
    thumb = lib.store.thumbs_dir / Path(apple.payload["thumbnail"]).name
    assert thumb.is_file()
    report = lib.index([folder], progress=False, prune=True)
    assert report.removed == 1 and "red-apple.png" not in _paths(lib)
    assert not thumb.exists()
    assert lib.info()["items"] == 2
    assert all(Path(r.path).name != "red-apple.png" for r in lib.search(text="apple", k=10))


def test_rm_forgets_a_file_and_refuses_unknown_paths(small):
    lib, folder = small
    assert lib.remove([folder / "cat.jpg"]) == 1
    assert _paths(lib) == {"red-apple.png", "volcanoes.txt"}
    with pytest.raises(NotFound, match="cat.jpg"):
        lib.remove([folder / "cat.jpg"])


def test_bad_index_input_changes_nothing(small):
    lib, folder = small
    before = lib.info()
    with pytest.raises(NotFound, match="missing-folder"):
        lib.index([folder, folder / "missing-folder"], progress=False)
    assert lib.info() == before


def test_drop_forgets_everything_and_a_new_model_can_start_over(small):
    lib, folder = small
    lib.drop()
    assert lib.info()["items"] == 0 and lib.search(text="cat") == []
    fresh = xmodal.open(lib.uri, model="minilm")  # no ModelMismatch: the collection is gone
    assert fresh.model == "minilm"
    fresh.close()


def test_a_fixed_file_is_retried_and_indexed(small):
    lib, folder = small
    broken = folder / "later.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not yet")
    first = lib.index([folder], progress=False, ocr=False)
    assert [Path(f.path).name for f in first.failed] == ["later.png"] and first.known_failures == 0
    assert lib.index([folder], progress=False, ocr=False).known_failures == 1
    shutil.copy(SAMPLES / "images" / "penguin.bmp", broken)  # now a real picture (a BMP named .png)
    fixed = lib.index([folder], progress=False, ocr=False)
    assert fixed.failed == [] and fixed.indexed["image"] == 1
