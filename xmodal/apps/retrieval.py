"""Candidate evidence for question answering: every relevant stored row of the library's top items.

``Library.search`` returns one result per item with its best evidence; a question needs more -- each
transcript segment with its time, each OCR block, each passage -- so the rows of the top items
nearest to the question become :class:`Unit` s, read through the library's typed read API
(``nearest_rows``, ``passages``). Text is the text ingest stored (the whole passage behind a
row's shortened evidence), never a re-read of the source file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from xmodal.config import AppsConfig
from xmodal.ingest.layout import Role, parse_kinds
from xmodal.ingest.search import load_query_image

__all__ = ["Unit", "retrieve_units", "specificity", "reference_captions", "SOURCE_OF_ROLE"]

SOURCE_OF_ROLE = {Role.ITEM: "passage", Role.CHUNK: "passage", Role.OCR: "ocr", Role.SPEECH: "transcript",
                  Role.FRAME: "frame"}


@dataclass
class Unit:
    """A candidate piece of evidence before ranking: one sentence, OCR line, segment, image or frame."""

    path: str
    kind: str
    source: str                  # passage | ocr | transcript | caption | image | frame
    retrieval: float             # text rows: cosine to the question; images / frames: specificity z-score
    text: str | None = None
    time: float | None = None
    end: float | None = None
    page: int | None = None
    thumbnail: str | None = None  # the item's stored thumbnail image (images, videos)
    relevance: float | None = None  # the item's calibrated retrieval relevance (None: not calibrated)
    asr_logprob: float | None = None  # a transcript segment's average log-probability, where stored


_REFERENCE_CACHE: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}


def reference_captions(encoder, captions: Sequence[str] = AppsConfig.qa_reference_captions) -> np.ndarray:
    """Generic ``captions`` (``qa_reference_captions``) encoded by ``encoder`` (once per model and
    captions): the yardstick for media evidence."""
    key = (getattr(encoder, "name", "") or str(id(encoder)), tuple(captions))
    if key not in _REFERENCE_CACHE:
        _REFERENCE_CACHE[key] = encoder.encode_text(list(captions), mode="query")
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


def _query_stats(lib, qmat: np.ndarray, pool: int, pool_min: int) -> list[tuple[float, float]]:
    """Per query, the mean and spread of its similarities to the library's ``pool`` nearest pictures
    (empty when there are fewer than ``pool_min``, too few for a meaningful spread: the image side
    then stands alone)."""
    stats = []
    for sims in lib.row_similarities("visual", qmat, pool):
        if len(sims) < pool_min:
            return []
        stats.append((float(sims.mean()), float(sims.std())))
    return stats


def retrieve_units(lib, question: str, image: Any = None, k: int | None = None,
                   kinds: Sequence[str] | None = None, where: Mapping | None = None,
                   settings: AppsConfig | None = None) -> list[Unit]:
    """Candidate evidence units for a question: every relevant row of the library's top items.

    The library's fused search (vectors + BM25) picks the items; within each, the rows nearest to
    the question in each vector field become units, so a long recording contributes its best
    segments rather than only the one the library showed. Images and frames carry their
    specificity (see :func:`specificity`) as retrieval score; text rows their cosine. ``settings``:
    the ``qa_*`` numbers (items, rows per item, picture pool, reference captions), default the
    library's (``lib.settings.apps``).
    """
    cfg = settings or lib.settings.apps
    k = cfg.qa_items if k is None else k
    kind_list = parse_kinds(kinds)
    found = lib.search(text=question, kind=kind_list, where=where, k=k)
    relevance = {r.id: r.relevance for r in found} if getattr(found, "calibrated", False) else {}
    results = list(found)
    enc = lib.encoder
    qvecs = [enc.encode_text([question], mode="query")[0]]
    if image is not None:
        picture = load_query_image(image, lib.settings.media)
        by_image = list(lib.search(image=picture, kind=kind_list, where=where, k=k))
        # Alternate the two rankings so neither the words nor the picture crowd the other out.
        merged = [r for pair in zip(by_image, results) for r in pair]
        merged += by_image[len(results):] + results[len(by_image):]
        results = list({r.id: r for r in merged}.values())  # first occurrence keeps its place
        qvecs.append(enc.encode_image([picture])[0])
    qmat = np.stack(qvecs).astype(np.float32)
    refs = reference_captions(enc, cfg.qa_reference_captions)
    query_stats = _query_stats(lib, qmat, cfg.qa_media_pool, cfg.qa_media_pool_min)
    results = results[:k]
    rows = lib.nearest_rows([r.id for r in results], qmat, cfg.qa_rows_per_item)
    texts = lib.passages([row for item_rows in rows.values() for row in item_rows])
    units: list[Unit] = []
    for r in results:
        item_rows = rows.get(r.id)
        if not item_rows:
            continue
        thumb = item_rows[0].get("thumbnail")  # the item's own row comes first
        for row in item_rows:
            for u in _row_units(r, row, texts.get(row.id), qmat, refs, query_stats, thumb):
                u.relevance = relevance.get(r.id)
                units.append(u)
    return units


def _row_units(result, row, text: str | None, qmat: np.ndarray, refs: np.ndarray, query_stats: list,
               thumb: str | None) -> list[Unit]:
    """The evidence units of one stored row (an item row, a chunk, an OCR block, a segment, a frame)."""
    visual = row.vectors.get("visual")
    if row.role is Role.FRAME or (row.role is Role.ITEM and result.kind in ("image", "video")):
        if visual is None:
            return []
        source = "image" if result.kind == "image" else "frame"
        z = specificity(qmat, visual, refs, query_stats)
        return [Unit(result.path, result.kind, source, z, None, row.time, row.end, None, thumb)]
    if (row.role is Role.ITEM and result.kind == "audio") or row.role is Role.SOUND:
        return []  # the whole transcript: its segments (with times) are the units; a sound says no words
    if not text:
        return []
    tvec = row.vectors.get("text")
    score = float(np.max(qmat @ tvec)) if tvec is not None else 0.0
    return [Unit(result.path, result.kind, SOURCE_OF_ROLE[row.role], score, text, row.time, row.end, None, thumb,
                 asr_logprob=row.get("asr_logprob"))]
