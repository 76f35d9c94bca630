"""Keyword (BM25) search over every piece of text in the library, with SQLite FTS5.

Vector search misses exact names, codes and rare words; BM25 catches them, and the two ranked
lists are fused. The index lives in one SQLite file inside the library folder, beside the vector
database, and is kept in step with it row by row (ids are the collection's row ids).
"""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Iterable, Sequence

from xmodal.ingest.sidecar import open_sidecar

_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
    row_id UNINDEXED, item_id UNINDEXED, kind UNINDEXED, body, tokenize = 'unicode61 remove_diacritics 2'
);
"""
_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def _tokens_for_index(text: str) -> str:
    """FTS5's unicode61 tokenizer treats a run of Chinese characters as one word; splitting CJK
    characters apart lets a two-character query match inside a sentence."""
    return _CJK.sub(lambda m: f" {m.group(0)} ", text)


# Words that match nearly every English passage; in an OR query they only add noise.
STOPWORDS = frozenset("""a an the of and or to in on at for from by with is are was were be been it its this that
these those i me my we you your he she they them do does did how what when where which who why can
could should would will shall may might must not no yes as if so than then there here about into
show find give tell""".split())


def _match_expression(query: str) -> str:
    """An OR of the query's content words, each quoted, so user punctuation can never break FTS
    syntax (stop words are dropped unless the query has nothing else)."""
    words = _WORD.findall(_tokens_for_index(query))
    content = [w for w in words if w.lower() not in STOPWORDS] or words
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(content))


class KeywordIndex:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = open_sidecar(self.path, _SCHEMA, "keyword index", wal=True)

    def add(self, rows: Iterable[tuple[str, str, str, str]]) -> None:
        """Add ``(row_id, item_id, kind, text)`` rows; empty texts are skipped."""
        data = [(r, i, k, _tokens_for_index(t)) for r, i, k, t in rows if t and t.strip()]
        if not data:
            return
        with self._lock, self._conn:
            self._conn.executemany("INSERT INTO passages(row_id, item_id, kind, body) VALUES (?,?,?,?)", data)

    def delete_items(self, item_ids: Sequence[str]) -> None:
        if not item_ids:
            return
        with self._lock, self._conn:
            self._conn.executemany("DELETE FROM passages WHERE item_id = ?", [(i,) for i in item_ids])

    def search(self, query: str, limit: int, kinds: Sequence[str] | None = None) -> list[tuple[str, str, float]]:
        """``(row_id, item_id, bm25_score)`` best first (score: higher is better)."""
        expr = _match_expression(query)
        if not expr:
            return []
        sql = "SELECT row_id, item_id, -bm25(passages) AS s FROM passages WHERE passages MATCH ?"
        args: list = [expr]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += list(kinds)
        sql += " ORDER BY s DESC LIMIT ?"
        args.append(int(limit))
        with self._lock:
            return [(r, i, float(s)) for r, i, s in self._conn.execute(sql, args)]

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM passages").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
