"""Keyword (BM25) search over every piece of text in the library, with SQLite FTS5.

Vector search misses exact names, codes and rare words; BM25 catches them, and the two ranked
lists are fused. The index lives in one SQLite file inside the library folder, beside the vector
database, and is kept in step with it row by row (ids are the collection's row ids).
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from xmodal.config import DBConfig
from xmodal.ingest.ranking import code_terms, content_terms
from xmodal.ingest.sidecar import open_sidecar

__all__ = ["KeywordHit", "KeywordIndex"]

_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
    row_id UNINDEXED, item_id UNINDEXED, kind UNINDEXED, body, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_vocab USING fts5vocab(passages, 'row');
CREATE TABLE IF NOT EXISTS passage_rows (row_id TEXT PRIMARY KEY, item_id TEXT NOT NULL, rid INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS passage_rows_item ON passage_rows(item_id);
"""
# ``passage_rows`` maps a row id to its FTS rowid: FTS5 cannot index an UNINDEXED column, so without
# it reading one row's passage scans every passage.
_SQL_VARIABLES = 500  # ids per IN (...) list, well under SQLite's limit on bound parameters
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_CJK_SPACED = re.compile(r" ([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]) ")  # undoes the next function


def _tokens_for_index(text: str) -> str:
    """FTS5's unicode61 tokenizer treats a run of Chinese characters as one word; splitting CJK
    characters apart lets a two-character query match inside a sentence."""
    return _CJK.sub(lambda m: f" {m.group(0)} ", text)


def _as_written(body: str) -> str:
    """A stored body as written (the CJK spacing added for the tokenizer removed)."""
    return _CJK_SPACED.sub(r"\1", body).strip()


def _match_expression(query: str) -> str:
    """An OR of the query's content words and code-like terms, each quoted, so user punctuation can
    never break FTS syntax. Stop words and one-letter tokens are left out (they match everything and
    only add noise); a query made of nothing else matches nothing."""
    parts = [" ".join(seq) for seq in code_terms(query) if len(seq) > 1] + content_terms(query)
    return " OR ".join(f'"{p}"' for p in dict.fromkeys(parts))


@dataclass
class KeywordHit:
    """One passage that matched: its row, item, kind, BM25 score (higher is better) and text."""

    row_id: str
    item_id: str
    kind: str
    score: float
    body: str

    @property
    def text(self) -> str:
        """The passage as written (the CJK spacing added for the tokenizer removed)."""
        return _as_written(self.body)


class KeywordIndex:
    def __init__(self, path: str | Path, busy_timeout_ms: int = DBConfig.sqlite_busy_timeout_ms):
        """``busy_timeout_ms``: how long a statement waits for another process's lock."""
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = open_sidecar(self.path, _SCHEMA, "keyword index", wal=True, busy_timeout_ms=busy_timeout_ms)
        with self._lock, self._conn:  # an index written before the lookup table existed: fill it once
            if self._conn.execute("SELECT NOT EXISTS (SELECT 1 FROM passage_rows) AND EXISTS (SELECT 1 FROM passages)"
                                  ).fetchone()[0]:
                self._conn.execute("INSERT OR REPLACE INTO passage_rows SELECT row_id, item_id, rowid FROM passages")

    def add(self, rows: Iterable[tuple[str, str, str, str]]) -> None:
        """Add ``(row_id, item_id, kind, text)`` rows; empty texts are skipped."""
        data = [(r, i, k, _tokens_for_index(t)) for r, i, k, t in rows if t and t.strip()]
        if not data:
            return
        with self._lock, self._conn:
            last = self._conn.execute("SELECT rowid FROM passages ORDER BY rowid DESC LIMIT 1").fetchone()
            self._conn.executemany("INSERT INTO passages(row_id, item_id, kind, body) VALUES (?,?,?,?)", data)
            self._conn.execute("INSERT OR REPLACE INTO passage_rows SELECT row_id, item_id, rowid FROM passages "
                               "WHERE rowid > ?", (last[0] if last else 0,))

    def delete_items(self, item_ids: Sequence[str]) -> None:
        if not item_ids:
            return
        with self._lock, self._conn:
            self._conn.executemany("DELETE FROM passages WHERE item_id = ?", [(i,) for i in item_ids])
            self._conn.executemany("DELETE FROM passage_rows WHERE item_id = ?", [(i,) for i in item_ids])

    def search(self, query: str, limit: int, kinds: Sequence[str] | None = None) -> list[tuple[str, str, float]]:
        """``(row_id, item_id, bm25_score)`` best first (score: higher is better)."""
        return [(r, i, float(s)) for r, i, s in self._matching("row_id, item_id", query, limit, kinds)]

    def search_passages(self, query: str, limit: int, kinds: Sequence[str] | None = None) -> list[KeywordHit]:
        """Like :meth:`search`, with each passage's kind and text (to judge what it holds)."""
        rows = self._matching("row_id, item_id, kind", query, limit, kinds, extra=", body")
        return [KeywordHit(r, i, k, float(s), b) for r, i, k, s, b in rows]

    def _matching(self, columns: str, query: str, limit: int, kinds: Sequence[str] | None,
                  extra: str = "") -> list[tuple]:
        """Rows (``columns``, score, ``extra``) of the passages matching ``query``, best BM25 first."""
        expr = _match_expression(query)
        if not expr:
            return []
        sql = f"SELECT {columns}, -bm25(passages) AS s{extra} FROM passages WHERE passages MATCH ?"
        args: list = [expr]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += list(kinds)
        sql += " ORDER BY s DESC LIMIT ?"
        args.append(int(limit))
        with self._lock:
            return list(self._conn.execute(sql, args))

    def passages(self, row_ids: Sequence[str]) -> dict[str, str]:
        """``{row id: the whole text it was indexed with}`` for those of ``row_ids`` the index holds
        (a row's evidence in the vector store is cut short; its passage here is not)."""
        wanted = list(dict.fromkeys(row_ids))
        out: dict[str, str] = {}
        for i in range(0, len(wanted), _SQL_VARIABLES):
            batch = wanted[i:i + _SQL_VARIABLES]
            with self._lock:
                rows = self._conn.execute(
                    "SELECT m.row_id, p.body FROM passage_rows AS m JOIN passages AS p ON p.rowid = m.rid "
                    f"WHERE m.row_id IN ({','.join('?' * len(batch))})", batch).fetchall()
            out.update((r, _as_written(b)) for r, b in rows)
        return out

    def doc_freqs(self, terms: Sequence[str]) -> dict[str, int]:
        """How many passages hold each (folded) term: the rarity that makes a match strong evidence."""
        if not terms:
            return {}
        marks = ",".join("?" * len(terms))
        with self._lock:
            rows = self._conn.execute(f"SELECT term, doc FROM passages_vocab WHERE term IN ({marks})", list(terms))
            found = {t: int(n) for t, n in rows}
        return {t: found.get(t, 0) for t in terms}

    def vocabulary(self, limit: int) -> list[str]:
        """The ``limit`` words held by most passages (folded; no stop words, numbers or short tokens),
        commonest first: what a library is about, for prompting the recogniser of a spoken query."""
        if limit <= 0:
            return []
        out: list[str] = []
        with self._lock:
            rows = self._conn.execute("SELECT term FROM passages_vocab ORDER BY doc DESC, term")
            for (term,) in rows:  # read lazily: stop words lead, so the first few hundred terms suffice
                if term.isalpha() and content_terms(term) == [term]:
                    out.append(term)
                    if len(out) >= limit:
                        break
        return out

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM passages").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
