"""Question answering reads what ingest stored (the whole passage behind a row's shortened
evidence), never the source file again: a library answers from a document that has since gone."""
from __future__ import annotations

import xmodal
from xmodal.apps.qa import ask
from xmodal.apps.retrieval import retrieve_units
from xmodal.ingest.layout import TRUNCATION_MARK

from .conftest import MODEL

ANSWER = "The lighthouse keeper painted the heavy front door a bright emerald green last spring."
QUESTION = "What colour is the lighthouse door?"


def _document() -> str:
    """About 400 words: the answer sits past the first 240 characters of every 200-word chunk."""
    filler = [f"On market day number {i} the harbour stalls sold bread, smoked fish and warm wool socks."
              for i in range(18)]
    tail = [f"Later, on evening {i}, the ferry left the quay with sheep, letters and a few tourists."
            for i in range(10)]
    return " ".join(filler + [ANSWER] + tail)


def test_units_hold_the_stored_passage_after_the_source_file_is_gone(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    doc = media / "island-notes.txt"
    doc.write_text(_document(), encoding="utf-8")
    with xmodal.open(str(tmp_path / "lib.xmdb"), model=MODEL) as lib:
        assert not lib.index([str(media)], ocr=False, speech=False, progress=False).failed
        doc.unlink()  # nothing left on disk to re-read
        texts = [u.text for u in retrieve_units(lib, QUESTION) if u.text]
        assert texts and not any(t.endswith(TRUNCATION_MARK) for t in texts)
        assert any(ANSWER in t for t in texts)
        ans = ask(lib, QUESTION, llm=None)
        assert any(e.text and "emerald green" in e.text for e in ans.evidence)
