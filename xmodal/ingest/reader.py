"""Reading a library's rows for the applications: items by id or path, their vectors, their rows
nearest a query, the whole passage behind a row's evidence.

These are the bodies of :class:`~xmodal.ingest.library.Library`'s read API; each costs a bounded
number of database calls however many items it is asked about (the paths and ids go into ``$in``
filters in batches the filter language accepts: ``in_limit``, the library's
``settings.db.max_filter_in_values``).
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from xmodal.config import DBConfig
from xmodal.db.api import Record
from xmodal.errors import NotFound
from xmodal.ingest.keywords import KeywordIndex
from xmodal.ingest.layout import (TRUNCATION_MARK, children_of, is_item, item_filter, item_of, main_field,
                                  role_of)
from xmodal.ingest.results import Item, StoredRow

__all__ = ["find_item", "items_at", "item_vectors", "nearest_items", "nearest_rows", "row_similarities", "passages", "as_item"]
_WORD = re.compile(r"\S+")


def _batches(values: Sequence[str], step: int) -> Iterator[list[str]]:
    wanted = list(dict.fromkeys(values))
    for i in range(0, len(wanted), step):
        yield wanted[i:i + step]


def as_item(rec: Record, path: str | None = None) -> Item:
    """An item record as an :class:`Item` (with its main vector when the record carries vectors)."""
    p = rec.payload or {}
    vecs = rec.vectors or {}
    field = main_field(p.get("kind", ""), list(vecs))
    vector = np.asarray(vecs[field], np.float32) if field is not None else None
    return Item(str(rec.id), path or p.get("path", ""), p.get("kind", ""), dict(p), vector)


def _records_at(col, paths: Sequence[str], flt: Mapping, with_vectors: bool,
                in_limit: int) -> Iterator[tuple[str, Record]]:
    """``(path, item record)`` for those of ``paths`` the library holds and ``flt`` admits: the
    cost follows the paths asked about, not the library's size."""
    for batch in _batches(paths, in_limit):
        asked = set(batch)
        for r in col.scroll(where={"$and": [flt, {"paths": {"$in": batch}}]}, with_vectors=with_vectors):
            for p in r.payload.get("paths") or [r.payload.get("path")]:
                if p in asked:
                    yield p, r


def items_at(col, paths: Sequence[str], kinds: Sequence[str] | None = None, where: Mapping | None = None,
             with_vectors: bool = False, *, in_limit: int = DBConfig.max_filter_in_values) -> dict[str, Item]:
    """``{path: Item}`` for those of ``paths`` the library holds and the filters admit."""
    return {p: as_item(r, p) for p, r in _records_at(col, paths, item_filter(kinds, where), with_vectors, in_limit)}


def item_vectors(col, paths: Sequence[str], uri: str, *,
                 in_limit: int = DBConfig.max_filter_in_values) -> dict[str, np.ndarray]:
    """``{path: the item's main vector}``; a path the library (at ``uri``) lacks raises NotFound."""
    found = items_at(col, paths, with_vectors=True, in_limit=in_limit)
    for p in paths:
        if p not in found:
            raise NotFound(f"{p}: not in the library {uri} (index it first)")
        if found[p].vector is None:
            raise NotFound(f"{p}: the library holds no vector for it")
    return {p: found[p].vector for p in paths}


def find_item(col, key: str, paths: bool = True, with_vectors: bool = False) -> Item | None:
    """The item whose id is ``key`` or (``paths``) that holds the file ``key`` names, as typed or resolved."""
    rec = col.get([key], with_vectors=with_vectors)
    if rec and is_item(rec[0].payload):
        return as_item(rec[0])
    if not paths:
        return None
    absolute = str(Path(key).expanduser().resolve())
    found = items_at(col, [key, absolute], with_vectors=with_vectors)
    return found.get(key) or found.get(absolute)


def nearest_items(col, queries: np.ndarray, k: int, kinds: Sequence[str] | None = None,
                  where: Mapping | None = None) -> list[list[Item]]:
    """Per query, the ``k`` nearest items over every vector field (item rows only), best first;
    each with the vector of the field it matched best in."""
    flt = item_filter(kinds, where)
    q = np.asarray(queries, dtype=np.float32)
    merged: list[dict[str, Item]] = [{} for _ in range(len(q))]
    for field in col.vector_fields:
        for i, hits in enumerate(col.search(field, q, k=k, where=flt, with_vectors=True)):
            for h in hits:
                vec = (h.vectors or {}).get(field)
                prev = merged[i].get(h.id)
                if vec is not None and (prev is None or h.score > prev.score):
                    p = h.payload or {}
                    merged[i][h.id] = Item(str(h.id), p.get("path", ""), p.get("kind", ""), p,
                                           np.asarray(vec, np.float32), float(h.score))
    return [sorted(m.values(), key=lambda h: -h.score)[:k] for m in merged]


def _row(rec: Record) -> StoredRow:
    vecs = {f: np.asarray(v, np.float32) for f, v in (rec.vectors or {}).items()}
    return StoredRow(str(rec.id), item_of(str(rec.id), rec.payload), role_of(rec.payload), dict(rec.payload or {}), vecs)


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=-1, keepdims=True), 1e-12)


def nearest_rows(col, item_ids: Sequence[str], queries: np.ndarray, k: int, *,
                 in_limit: int = DBConfig.max_filter_in_values) -> dict[str, list[StoredRow]]:
    """Per item (those of ``item_ids`` that exist, in that order): its own row, then in each vector
    field the ``k`` child rows nearest to each query (cosine, exact), each row once. One ``get`` and
    one filtered ``scroll`` for all the items, not a search per item and field."""
    ids = list(dict.fromkeys(str(i) for i in item_ids))
    items = [r for r in col.get(ids, with_vectors=True) if is_item(r.payload)]
    children: dict[str, list[StoredRow]] = defaultdict(list)
    for batch in _batches([r.id for r in items], in_limit):
        for rec in col.scroll(where=children_of(batch), with_vectors=True):
            row = _row(rec)
            children[row.item_id].append(row)
    q = _unit(np.atleast_2d(np.asarray(queries, np.float32)))
    out: dict[str, list[StoredRow]] = {}
    for rec in items:
        rows = {rec.id: _row(rec)}
        kids = children.get(rec.id, [])
        for field in col.vector_fields:
            having = [r for r in kids if field in r.vectors]
            if not having:
                continue
            sims = q @ _unit(np.stack([r.vectors[field] for r in having])).T
            for per_query in sims:
                for j in np.argsort(-per_query, kind="stable")[:k]:
                    rows.setdefault(having[j].id, having[j])
        out[rec.id] = list(rows.values())
    return out


def row_similarities(col, field: str, queries: np.ndarray, k: int) -> list[np.ndarray]:
    """Per query, its similarities to its ``k`` nearest rows in ``field`` (every role and kind);
    empty when the library has no such field."""
    if field not in col.vector_fields:
        return []
    hits = col.search(field, np.asarray(queries, np.float32), k=k, with_payload=False)
    return [np.array([h.score for h in per_query], dtype=np.float64) for per_query in hits]


def _from_evidence(body: str, evidence: str) -> str | None:
    """``body`` (a row's indexed text; an item row's starts with its file name as words) from where
    ``evidence`` -- the passage's start, whitespace folded, maybe cut inside a word -- begins."""
    stem = evidence.removesuffix(TRUNCATION_MARK).split()
    if not stem:
        return None
    words = list(_WORD.finditer(body))
    n = len(stem)
    for i in range(len(words) - n + 1):
        if all(words[i + j].group(0) == stem[j] for j in range(n - 1)) and words[i + n - 1].group(0).startswith(stem[-1]):
            return body[words[i].start():]
    return None


def passages(keywords: KeywordIndex, rows: Sequence[StoredRow]) -> dict[str, str]:
    """``{row id: its whole passage}`` for the rows that have text: the stored evidence when it is
    whole, else the text the row was indexed with (one keyword-index lookup for all the rows).
    Where the index lacks a cut row (a library indexed elsewhere) its evidence stands."""
    out = {r.id: r.text for r in rows if r.text}
    cut = [r for r in rows if r.text.endswith(TRUNCATION_MARK)]
    if cut:
        bodies = keywords.passages([r.id for r in cut])
        for r in cut:
            whole = _from_evidence(bodies[r.id], r.text) if r.id in bodies else None
            if whole:
                out[r.id] = whole
    return out
