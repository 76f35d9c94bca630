"""A library hands its settings to what it opens (issue 13): its encoder and the decoders, in this
process and in worker processes alike (by default the note below is read: tests/media/test_text.py)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import xmodal
from xmodal.config import CONFIG, Config, MediaConfig

SMALL_TEXT = Config(media=MediaConfig(max_text_bytes=100))
NOTE = "The harbour master keeps a small wooden boat painted blue. " * 3  # ~180 bytes


def _index_under_small_limit(tmp_path: Path, workers: int) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "note.txt").write_text(NOTE, encoding="utf-8")
    (folder / "short.txt").write_text("a blue boat", encoding="utf-8")
    with xmodal.open(tmp_path / "small.xmdb", model="minilm", settings=SMALL_TEXT) as small:
        assert small.encoder.settings == SMALL_TEXT.encoders
        report = small.index([folder], workers=workers, progress=False)
    # Over this library's 100-byte limit, however many processes decode.
    assert [Path(f.path).name for f in report.failed] == ["note.txt"]
    assert "MediaConfig.max_text_bytes" in report.failed[0].reason
    assert sum(report.indexed.values()) == 1


def test_library_settings_reach_the_decoders(tmp_path):
    _index_under_small_limit(tmp_path, workers=1)


@pytest.mark.slow  # two worker processes each load the model (~30 s on the 2-core VM)
def test_library_settings_travel_to_worker_processes(tmp_path):
    _index_under_small_limit(tmp_path, workers=2)


LONG_NOTE = ("The harbour master keeps a small wooden boat painted blue, and every morning he rows it "
             "past the lighthouse to check the nets before the fishing fleet comes back in. ") * 2


def test_the_librarys_own_ingest_settings_are_the_ones_indexing_and_search_obey(tmp_path):
    """Nothing in xmodal.ingest reads the global CONFIG: a library opened with other ingest settings
    names its collection and keyword file, batches its files, cuts its evidence and fuses ranks by
    them, while a library beside it in the same process keeps the defaults."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "note.txt").write_text(LONG_NOTE, encoding="utf-8")
    (folder / "cat.txt").write_text("a grey cat sleeps on the warm windowsill", encoding="utf-8")
    (folder / "bread.txt").write_text("fresh bread from the bakery on the corner", encoding="utf-8")
    base = Config()
    tuned = replace(base, ingest=replace(base.ingest, default_collection="notes", keyword_file="words.sqlite",
                                         batch_files=1, evidence_chars=40, rrf_k=1))

    def index_and_search(path: Path, settings: Config | None) -> tuple[xmodal.Library, int, list]:
        batches: list[int] = []
        lib = xmodal.open(path, model="minilm", settings=settings)
        report = lib.index([folder], progress=False, on_batch=lambda r: batches.append(sum(r.indexed.values())))
        assert sum(report.indexed.values()) == 3 and not report.failed
        return lib, len(batches), lib.search(text="wooden boat near the lighthouse", k=3, fusion="rrf")

    lib, n_batches, hits = index_and_search(tmp_path / "tuned.xmdb", tuned)
    with lib:
        assert lib.collection_name == "notes" and (lib.side / "notes" / "words.sqlite").is_file()
        assert n_batches == 3  # one file per batch
        assert Path(hits[0].path).name == "note.txt"
        cut = hits[0].evidence["text"]
        assert len(cut) <= 40 and cut.endswith("…"), cut
    plain, n_plain, plain_hits = index_and_search(tmp_path / "plain.xmdb", None)
    with plain:
        assert plain.collection_name == "media" and (plain.side / "media" / "keywords.sqlite").is_file()
        assert n_plain == 1
        assert Path(plain_hits[0].path).name == "note.txt"
        assert len(plain_hits[0].evidence["text"]) > 40
        # The same ranks fused with k = 1 instead of 60: a larger score for the best item.
        assert hits[0].score > 2 * plain_hits[0].score
    assert CONFIG == Config()  # the global settings were never touched
