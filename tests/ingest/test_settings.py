"""A library hands its settings to what it opens (issue 13): its encoder and the decoders, in this
process and in worker processes alike (by default the note below is read: tests/media/test_text.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

import xmodal
from xmodal.config import Config, MediaConfig

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
