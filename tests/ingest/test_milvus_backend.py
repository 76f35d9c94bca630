"""The library is backend-agnostic: the same indexing and search over Milvus Lite."""
from __future__ import annotations

from pathlib import Path

import xmodal
from tests.ingest.conftest import SAMPLES


def test_index_search_and_remove_on_milvus_lite(tmp_path):
    docs = [SAMPLES / "documents" / n for n in ("volcanoes.txt", "guitar-tuning.md", "coffee-brewing.pdf")]
    with xmodal.open(f"milvus-lite:{tmp_path / 'm.db'}", model="minilm") as lib:
        report = lib.index(docs, progress=False)
        assert report.indexed["text"] == 3 and not report.failed
        top = lib.search(text="lava and ash", k=2)[0]
        assert Path(top.path).name == "volcanoes.txt" and "lava" in top.evidence["text"]
        assert lib.index(docs, progress=False).encoded == 0
        assert lib.remove([docs[0]]) == 1 and lib.info()["items"] == 2
    assert (tmp_path / "m.db.xmodal").is_dir()  # keyword index + failure log beside the Milvus file
