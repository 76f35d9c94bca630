"""The applications' window onto a Library: rows, vectors and texts it does not hand out itself.

``Library.search`` returns one result per item with its best evidence; question answering needs
every child row of the top items (each transcript segment with its time, each OCR block, each
chunk) and recommendation needs item vectors. This module reads them through the public database
API (``lib.db``, the library's collection, ``scroll`` / ``get`` / ``search``) and knows the
library's row layout: items keyed by content hash with ``role == "item"``, children with
``parent`` = the item id and ``role`` in chunk | ocr | speech | frame, vector fields ``visual``
and / or ``text``. Everything Library-specific that the apps rely on lives here, in one place.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from xmodal.config import CONFIG
from xmodal.errors import NotFound

ITEM_ROLE = "item"
SOURCE_OF_ROLE = {"chunk": "passage", "ocr": "ocr", "speech": "transcript", "frame": "frame"}
TRUNCATION_MARK = "…"

_stores: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


@dataclass
class ItemHit:
    id: str
    path: str
    kind: str
    score: float
    vector: np.ndarray
    payload: dict


def collection(lib):
    """The library's collection; NotFound when nothing was indexed yet."""
    if not lib.db.has_collection(lib.collection_name):
        raise NotFound(f"the library {lib.uri} is empty: index some files first")
    return lib.db.collection(lib.collection_name)


def vector_dim(lib) -> int:
    col = collection(lib)
    dims = {f.dim for f in col.vector_fields.values()}
    return int(col.metadata.get("dim") or next(iter(dims)))


def interaction_store(lib):
    """One :class:`InteractionStore` per open library object, beside its collection."""
    from xmodal.apps.interactions import InteractionStore

    store = _stores.get(lib)
    if store is None:
        store = InteractionStore(lib.db, lib.collection_name, vector_dim(lib))
        _stores[lib] = store
    return store


def sentence_encoder():
    """The text-to-text model that scores evidence sentences (``CONFIG.apps.qa_sentence_encoder``)."""
    from xmodal.encoders import get_encoder

    return get_encoder(CONFIG.apps.qa_sentence_encoder)


# ----------------------------------------------------------------------------- items and vectors
def _items_at(col, paths: Sequence[str], flt: Mapping | None = None, with_vectors: bool = False):
    """``(path, item record)`` for those of ``paths`` the library holds and ``flt`` admits, filtered in
    the database in batches the filter language accepts: the cost follows the paths, not the library."""
    wanted = list(dict.fromkeys(paths))
    step = CONFIG.db.max_filter_in_values
    for i in range(0, len(wanted), step):
        batch = wanted[i:i + step]
        parts = [flt or {"role": ITEM_ROLE}, {"paths": {"$in": batch}}]
        for r in col.scroll(where={"$and": parts}, with_vectors=with_vectors):
            for p in r.payload.get("paths") or [r.payload.get("path")]:
                if p in batch:
                    yield p, r


def _path_index(col, paths: Sequence[str]) -> dict[str, str]:
    """``{path: item id}`` for those of ``paths`` the library holds."""
    return {p: r.id for p, r in _items_at(col, paths)}


def resolve_path(lib, item: str) -> str:
    """The stored path of ``item`` (a path as typed, relative or absolute, or an item id)."""
    col = collection(lib)
    rec = col.get([str(item)])
    if rec and rec[0].payload.get("role") == ITEM_ROLE:
        return rec[0].payload["path"]
    absolute = str(Path(item).expanduser().resolve())
    index = _path_index(col, [str(item), absolute])
    for candidate in (str(item), absolute):
        if candidate in index:
            return candidate
    raise NotFound(f"{item}: not in the library {lib.uri} (index it first)")


def _item_vector(rec) -> np.ndarray | None:
    vecs = rec.vectors or {}
    # The field that carries what the item is: its picture for images and videos, else its text.
    order = ("visual", "text") if rec.payload.get("kind") in ("image", "video") else ("text", "visual")
    for f in order + tuple(vecs):
        if f in vecs:
            return np.asarray(vecs[f], dtype=np.float32)
    return None


def item_vectors(lib, paths: Sequence[str]) -> dict[str, tuple[np.ndarray, str]]:
    """``{path: (vector, kind)}`` for stored paths; a path the library lacks raises NotFound."""
    col = collection(lib)
    index = _path_index(col, paths)
    missing = [p for p in paths if p not in index]
    if missing:
        raise NotFound(f"{missing[0]}: not in the library {lib.uri} (index it first)")
    ids = list(dict.fromkeys(index[p] for p in paths))
    recs = {r.id: r for r in col.get(ids, with_vectors=True)}
    out = {}
    for p in paths:
        rec = recs[index[p]]
        vec = _item_vector(rec)
        if vec is None:
            raise NotFound(f"{p}: the library holds no vector for it")
        out[p] = (vec, rec.payload.get("kind", ""))
    return out


def _item_filter(kinds: Sequence[str] | None, where: Mapping | None) -> dict:
    parts: list[dict] = [{"role": ITEM_ROLE}]
    if kinds:
        parts.append({"kind": {"$in": list(kinds)}})
    if where:
        parts.append(dict(where))
    return parts[0] if len(parts) == 1 else {"$and": parts}


def nearest_items(lib, queries: np.ndarray, k: int, kinds: Sequence[str] | None = None,
                  where: Mapping | None = None) -> list[list[ItemHit]]:
    """Per query, the ``k`` nearest items over every vector field (item rows only), best first."""
    col = collection(lib)
    flt = _item_filter(kinds, where)
    q = np.asarray(queries, dtype=np.float32)
    merged: list[dict[str, ItemHit]] = [{} for _ in range(len(q))]
    for field in col.vector_fields:
        for i, hits in enumerate(col.search(field, q, k=k, where=flt, with_vectors=True)):
            for h in hits:
                vec = (h.vectors or {}).get(field)
                prev = merged[i].get(h.id)
                if vec is not None and (prev is None or h.score > prev.score):
                    p = h.payload or {}
                    merged[i][h.id] = ItemHit(h.id, p.get("path", ""), p.get("kind", ""), float(h.score),
                                              np.asarray(vec, np.float32), p)
    return [sorted(m.values(), key=lambda h: -h.score)[:k] for m in merged]


def items_at(lib, paths: Sequence[str], kinds: Sequence[str] | None = None,
             where: Mapping | None = None) -> list[ItemHit]:
    """The stored items at ``paths`` that pass the filters, with their vectors (score 0)."""
    out = []
    for p, r in _items_at(collection(lib), paths, _item_filter(kinds, where), with_vectors=True):
        vec = _item_vector(r)
        if vec is not None:
            out.append(ItemHit(r.id, p, r.payload.get("kind", ""), 0.0, vec, r.payload))
    return out


def filter_paths(lib, paths: Sequence[str], kinds: Sequence[str] | None = None,
                 where: Mapping | None = None) -> dict[str, str]:
    """``{path: kind}`` for the given paths that pass the kind / payload filters."""
    return {p: r.payload.get("kind", "") for p, r in _items_at(collection(lib), paths, _item_filter(kinds, where))}


# ----------------------------------------------------------------------------- QA evidence rows
def _full_chunk_text(path: str, prefix: str, cache: dict) -> str | None:
    """The library keeps evidence text cut short; a text item's whole chunk is re-read from its file."""
    if path not in cache:
        try:
            from xmodal.media import chunk_text, load_text

            cache[path] = [c.text for c in chunk_text(load_text(Path(path)))]
        except Exception:  # noqa: BLE001 - a moved or unreadable file just keeps the stored excerpt
            cache[path] = []
    stem = prefix.rstrip(TRUNCATION_MARK).rstrip()
    norm = " ".join(stem.split())
    for chunk in cache[path]:
        if " ".join(chunk.split()).startswith(norm):
            return chunk
    return None


def _query_image(image: Any):
    """A PIL image as given, or the file loaded by the media layer (EXIF, SVG, bomb guard)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if not Path(image).is_file():
        raise NotFound(f"{image}: no such image file")
    from xmodal.media import load_image

    return load_image(Path(image))


_REFERENCE_CACHE: dict[str, np.ndarray] = {}


def reference_captions(encoder) -> np.ndarray:
    """Generic captions encoded by ``encoder`` (once per model): the yardstick for media evidence."""
    key = getattr(encoder, "name", "") or str(id(encoder))
    if key not in _REFERENCE_CACHE:
        _REFERENCE_CACHE[key] = encoder.encode_text(list(CONFIG.apps.qa_reference_captions), mode="query")
    return _REFERENCE_CACHE[key]


def specificity(query_vecs: np.ndarray, vector: np.ndarray, refs: np.ndarray,
                query_stats: Sequence[tuple[float, float]] = ()) -> float:
    """How distinctly the question describes ``vector``, in standard deviations: the image side (the
    question against generic captions for this picture) averaged with the query side (this picture
    against the other pictures for this question, ``query_stats`` = per query (mean, sd)). Either
    alone is fooled by hubs: a picture near every question, or a question near every picture."""
    ref_sims = refs @ vector
    sims = query_vecs @ vector
    z_image = float((np.max(sims) - ref_sims.mean()) / (float(ref_sims.std()) or 1e-6))
    if not query_stats:
        return z_image
    z_query = max(float((s - m) / (sd or 1e-6)) for s, (m, sd) in zip(sims, query_stats))
    return (z_image + z_query) / 2


def retrieve_units(lib, question: str, image: Any = None, k: int | None = None,
                   kinds: Sequence[str] | None = None, where: Mapping | None = None) -> list:
    """Candidate evidence units for a question: every relevant row of the library's top items.

    The library's fused search (vectors + BM25) picks the items; within each, the rows nearest to
    the question in each vector field become units, so a long recording contributes its best
    segments rather than only the one the library showed. Images and frames carry their
    specificity (see :func:`specificity`) as retrieval score; text rows their cosine.
    """
    from xmodal.apps.qa import Unit

    k = CONFIG.apps.qa_items if k is None else k
    col = collection(lib)
    kind_list = list(kinds) if kinds else None
    found = lib.search(text=question, kind=kind_list, where=where, k=k)
    relevance = {r.id: r.relevance for r in found} if getattr(found, "calibrated", False) else {}
    results = list(found)
    enc = lib.encoder
    qvecs = [enc.encode_text([question], mode="query")[0]]
    if image is not None:
        picture = _query_image(image)
        by_image = list(lib.search(image=picture, kind=kind_list, where=where, k=k))
        # Alternate the two rankings so neither the words nor the picture crowd the other out.
        merged = [r for pair in zip(by_image, results) for r in pair]
        merged += by_image[len(results):] + results[len(by_image):]
        results = list({r.id: r for r in merged}.values())  # first occurrence keeps its place
        qvecs.append(enc.encode_image([picture])[0])
    qmat = np.stack(qvecs).astype(np.float32)
    refs = reference_captions(enc)
    query_stats: list[tuple[float, float]] = []
    if "visual" in col.vector_fields:
        for hits in col.search("visual", qmat, k=CONFIG.apps.qa_media_pool, with_payload=False):
            sims = np.array([h.score for h in hits], dtype=np.float64)
            query_stats.append((float(sims.mean()), float(sims.std())))
        if len(sims) < CONFIG.apps.qa_media_pool_min:
            query_stats = []  # too few pictures for a meaningful spread: the image side alone
    units: list = []
    text_cache: dict[str, list[str]] = {}
    for r in results[:k]:
        item = col.get([r.id], with_vectors=True)
        if not item:
            continue
        rows = [item[0]]
        for field in col.vector_fields:
            for per_query in col.search(field, qmat, k=CONFIG.apps.qa_rows_per_item, where={"parent": r.id},
                                        with_vectors=True):
                rows += per_query
        thumb = item[0].payload.get("thumbnail")
        seen_rows: set = set()
        for row in rows:
            if row.id in seen_rows:
                continue
            seen_rows.add(row.id)
            for u in _row_units(r, row, qmat, refs, query_stats, thumb, text_cache, Unit):
                u.relevance = relevance.get(r.id)
                units.append(u)
    return units


def _row_units(result, row, qmat: np.ndarray, refs: np.ndarray, query_stats: list, thumb: str | None,
               text_cache: dict, Unit) -> list:
    """The evidence units of one stored row (an item row, a chunk, an OCR block, a segment, a frame)."""
    p = row.payload or {}
    role = p.get("role", ITEM_ROLE)
    vecs = row.vectors or {}
    visual = vecs.get("visual")
    if role == "frame" or (role == ITEM_ROLE and result.kind in ("image", "video")):
        if visual is None:
            return []
        source = "image" if result.kind == "image" else "frame"
        z = specificity(qmat, np.asarray(visual, np.float32), refs, query_stats)
        return [Unit(result.path, result.kind, source, z, None, p.get("time"), p.get("end"), None, thumb)]
    if role == ITEM_ROLE and result.kind == "audio":
        return []  # the whole transcript: its segments (with times) are the units
    text = p.get("text") or None
    if not text:
        return []
    if result.kind == "text" and text.endswith(TRUNCATION_MARK):
        text = _full_chunk_text(result.path, text, text_cache) or text
    tvec = vecs.get("text")
    score = float(np.max(qmat @ np.asarray(tvec, np.float32))) if tvec is not None else 0.0
    source = "passage" if role == ITEM_ROLE else SOURCE_OF_ROLE.get(role, role)
    return [Unit(result.path, result.kind, source, score, text, p.get("time"), p.get("end"), None, thumb,
                 asr_logprob=p.get("asr_logprob"))]
