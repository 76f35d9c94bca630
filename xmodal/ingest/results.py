"""The typed objects the library hands back: search results, stored items and rows, the indexing report."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.ingest.files import KINDS
from xmodal.ingest.layout import Role

__all__ = ["SearchResult", "SearchResults", "Item", "StoredRow", "Failure", "IndexReport"]


@dataclass
class SearchResult:
    """One item found. ``evidence`` says why: ``time`` (seconds, for video / audio), ``end``,
    ``text`` (the passage, OCR text or transcript span that matched) and ``match`` (what matched:
    item, chunk, ocr, frame, speech, keyword). ``scores`` holds each ranked list's raw score.
    ``relevance`` in [0, 1] estimates the chance the item is what was asked for (results are sorted
    by it); ``signals`` says which kinds of evidence matched (visual, text, ocr, speech, keyword)
    and each one's relevance."""

    path: str
    kind: str
    score: float
    evidence: dict
    payload: dict
    id: str = ""
    scores: dict = field(default_factory=dict)
    relevance: float = 0.0
    signals: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class SearchResults(list):
    """A list of :class:`SearchResult`, best first, that also remembers the query's transcript
    (speech queries, with the language it was heard in) so callers can show what was heard, and a
    ``warning`` when the model cannot read the query (a Chinese query against an English-only model)."""

    query_text: str | None = None
    query_language: str | None = None
    warning: str | None = None
    calibrated: bool = False  # relevance from the model's calibration (else the best cosine, RRF order)


@dataclass
class Item:
    """One stored item as the read API hands it out. ``path`` is the path it was asked by (else its
    main path); ``vector`` the vector that carries what it is (its picture for images and videos,
    else its text) or, from :meth:`~xmodal.ingest.library.Library.nearest_items`, the vector that
    matched, with its similarity in ``score``."""

    id: str
    path: str
    kind: str
    payload: dict
    vector: np.ndarray | None = None
    score: float = 0.0

    @property
    def paths(self) -> list[str]:
        """Every path holding these bytes."""
        return list(self.payload.get("paths") or [self.payload.get("path")])

    @property
    def name(self) -> str:
        return self.payload.get("name") or ""

    @property
    def mime(self) -> str | None:
        return self.payload.get("mime")

    @property
    def thumbnail(self) -> str | None:
        """The stored thumbnail image (images, videos), if any."""
        return self.payload.get("thumbnail")


@dataclass
class StoredRow:
    """One stored row of an item -- the item's own, or a chunk, OCR block, frame or transcript
    segment -- with its vectors; ``text`` is its evidence (cut at ``evidence_chars``: the whole
    passage is :meth:`~xmodal.ingest.library.Library.passages`)."""

    id: str
    item_id: str
    role: Role
    payload: dict
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def time(self) -> float | None:
        return self.payload.get("time")

    @property
    def end(self) -> float | None:
        return self.payload.get("end")

    @property
    def text(self) -> str:
        return self.payload.get("text") or ""

    def get(self, key: str, default: Any = None) -> Any:
        """Any other payload field (e.g. a transcript segment's ``asr_logprob``)."""
        return self.payload.get(key, default)


@dataclass
class Failure:
    """A file that could not be indexed; ``reason`` names the file and the problem (it stands on
    its own in logs and JSON reports)."""

    path: str
    kind: str | None
    reason: str

    def line(self) -> str:
        """``path: problem`` with the path once, however the reason was worded."""
        return f"{self.path}: {self.reason.removeprefix(f'{self.path}: ')}"


@dataclass
class IndexReport:
    """What one ``index`` run did, per kind. ``interrupted`` is set when Ctrl-C stopped it: what is
    counted as indexed was written and is kept."""

    indexed: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    skipped: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    duplicates: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    failed: list[Failure] = field(default_factory=list)
    removed: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    rows_written: int = 0
    known_failures: int = 0  # failed before and unchanged since: listed again, not re-read
    # Files left out because xmodal does not read their type, by extension ("" when there is none).
    unsupported: dict = field(default_factory=dict)

    def note_unsupported(self, path: str) -> None:
        ext = Path(path).suffix.lower()
        self.unsupported[ext] = self.unsupported.get(ext, 0) + 1

    @property
    def encoded(self) -> int:
        """Items decoded and encoded in this run (0 on a re-run over an unchanged folder)."""
        return sum(self.indexed.values())

    def failed_by_kind(self) -> dict:
        out = dict.fromkeys(KINDS, 0)
        for f in self.failed:
            out[f.kind or "unknown"] = out.get(f.kind or "unknown", 0) + 1
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["encoded"] = self.encoded
        return d

    def render(self, console) -> None:
        """The end-of-run summary: a table by kind, then every failed file with its reason."""
        from rich.table import Table

        failed = self.failed_by_kind()
        table = Table(title="interrupted - everything below was written and is kept" if self.interrupted
                      else "index summary")
        for col in ("kind", "indexed", "duplicates", "skipped", "failed"):
            table.add_column(col, justify="left" if col == "kind" else "right")
        for kind in list(KINDS) + [k for k in failed if k not in KINDS]:
            row = (self.indexed.get(kind, 0), self.duplicates.get(kind, 0), self.skipped.get(kind, 0),
                   failed.get(kind, 0))
            if any(row):
                table.add_row(kind, *map(str, row))
        table.add_row("total", str(self.encoded), str(sum(self.duplicates.values())),
                      str(sum(self.skipped.values())), str(len(self.failed)), style="bold")
        console.print(table)
        extra = f", {self.removed} removed" if self.removed else ""
        console.print(f"{self.rows_written} rows written in {self.seconds:.1f} s{extra}")
        if self.unsupported:
            n = sum(self.unsupported.values())
            kinds = ", ".join(f"{ext or '(no extension)'} {c}" for ext, c in
                              sorted(self.unsupported.items(), key=lambda kv: (-kv[1], kv[0])))
            console.print(f"{n} file{'s' if n != 1 else ''} of a type xmodal does not read, left out: {kinds}",
                          markup=False, highlight=False)
        if self.failed:
            again = f" ({self.known_failures} unchanged since they failed before, not re-read)" \
                if self.known_failures else ""
            console.print(f"[bold red]{len(self.failed)} failed{again}:[/]")
            for f in self.failed:
                console.print(f"  {f.line()}", markup=False, highlight=False)
