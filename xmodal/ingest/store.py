"""What a library keeps beside its vector collection, on this machine's disk.

The vector backend (the embedded database, or a Milvus server) holds the rows and their vectors.
Three things live beside it, in one folder per collection (``<side>/<collection>/``, see
:func:`xmodal.ingest.layout.side_folder`):

- the keyword index (``keywords.sqlite``, SQLite FTS5): every row's whole text, for BM25 matches
  and for the full passage behind a row's shortened evidence;
- the failure log (``failures.sqlite``): files that could not be indexed, not re-read while unchanged;
- thumbnails (``thumbs/<item id>.jpg``).

They are local even when the vectors are on a Milvus server: two machines sharing one server each
keep their own keyword index (only the machine that indexed a file holds its passages).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

from xmodal.config import Config
from xmodal.ingest.failures import FailureLog
from xmodal.ingest.keywords import KeywordIndex

__all__ = ["SideStore"]


class SideStore:
    """The keyword index, failure log and thumbnails of one collection; the SQLite files open on first use."""

    def __init__(self, folder: str | Path, settings: Config | None = None):
        """``settings``: the library's (the side files' names, SQLite's busy timeout)."""
        self.folder = Path(folder)
        self.settings = settings or Config()
        self._keywords: KeywordIndex | None = None
        self._failures: FailureLog | None = None

    @property
    def keywords(self) -> KeywordIndex:
        if self._keywords is None:
            self._keywords = KeywordIndex(self.folder / self.settings.ingest.keyword_file,
                                          self.settings.db.sqlite_busy_timeout_ms)
        return self._keywords

    @property
    def failures(self) -> FailureLog:
        if self._failures is None:
            self._failures = FailureLog(self.folder / self.settings.ingest.failure_file,
                                        self.settings.db.sqlite_busy_timeout_ms)
        return self._failures

    @property
    def thumbs_dir(self) -> Path:
        return self.folder / "thumbs"

    def thumbnail(self, item_id: str) -> Path:
        """Where an item's thumbnail is written (named by its content hash)."""
        return self.thumbs_dir / f"{item_id}.jpg"

    def forget_items(self, item_ids: Sequence[str]) -> None:
        """Drop the passages and thumbnails of items that left the library."""
        self.keywords.delete_items(list(item_ids))
        for item_id in item_ids:
            self.thumbnail(item_id).unlink(missing_ok=True)

    def close(self) -> None:
        for side in (self._keywords, self._failures):
            if side is not None:
                side.close()
        self._keywords = self._failures = None

    def drop(self) -> None:
        """Delete everything here (the keyword index, failure log and thumbnails)."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)
