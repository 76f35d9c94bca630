"""Running a query against a library: the database searches, then the policy of :mod:`xmodal.ingest.ranking`.

Why apart from :class:`~xmodal.ingest.library.Library`: this is where a query meets the backend --
one search per vector field, one keyword query, the rows grouped back into items -- while what
the scores mean (calibration, floors, list weights, fusion, which row is quoted as evidence) is
ranking's, pure and tested on its own.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from xmodal.config import Config, IngestConfig, MediaConfig
from xmodal.db.api import Hit
from xmodal.db.filters import evaluate, parse_filter
from xmodal.errors import InvalidInput, ModelMismatch, NotFound
from xmodal.ingest.fusion import rrf
from xmodal.ingest.keywords import KeywordIndex
from xmodal.ingest.layout import parse_kinds, positive_k, role_of, row_filter
from xmodal.ingest.ranking import (KEYWORD_LIST, Calibration, best_rows, content_terms, evidence,
                                   evidence_order, field_signal, floor, fuse, keyword_signal, language_warning,
                                   list_preference, list_signals, list_weight, signal_name,
                                   vector_lists)
from xmodal.ingest.results import SearchResult, SearchResults
from xmodal.ingest.sound import is_speech, query_sound_vector
from xmodal.ingest.store import SideStore
from xmodal.media import load_image
from xmodal.media.speech import Reading, hear

__all__ = ["Searcher", "load_query_image", "transcribe_query", "library_words", "SpokenQuery", "spoken_query",
           "readings_vector"]


def load_query_image(image: Any, media: MediaConfig | None = None) -> Image.Image:
    """A PIL image as given (in RGB), or the file loaded the way indexing loads it (EXIF, SVG, bomb
    guard; ``media``: the library's decoding settings)."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if not Path(image).is_file():
        raise NotFound(f"{image}: no such image file")
    return load_image(Path(image), settings=media)


def library_words(keywords: KeywordIndex, text: str) -> int:
    """How many of ``text``'s content words the library's keyword index holds: a reading of a
    spoken query naming more of them is likelier what was said, and more likely to match."""
    return sum(1 for n in keywords.doc_freqs(content_terms(text)).values() if n)


def query_readings(audio: str | os.PathLike, media: MediaConfig | None = None,
                   keywords: KeywordIndex | None = None) -> tuple[list[Reading], str | None]:
    """A speech query's readings (the chosen one first; [] for no words) and the language it was
    said in (``media``: the library's speech settings). With the library's ``keywords``, its
    commonest words prompt the recogniser (``media.asr_vocabulary_hints``) and the n-best reading
    naming most library words is chosen."""
    if not Path(audio).is_file():
        raise NotFound(f"{audio}: no such audio file")
    media = media or MediaConfig()
    hints: list[str] = []
    prefer = None
    if keywords is not None:
        if media.asr_vocabulary_hints:
            hints = keywords.vocabulary(media.asr_vocabulary_hints_limit)
        prefer = partial(library_words, keywords)
    return hear(Path(audio), settings=media, hints=hints, prefer=prefer)


def transcribe_query(audio: str | os.PathLike, media: MediaConfig | None = None,
                     keywords: KeywordIndex | None = None) -> tuple[str, str | None]:
    """What a speech query says ("" for no words: a sound, or silence) and its language; see
    :func:`query_readings`."""
    readings, language = query_readings(audio, media, keywords)
    return (readings[0].text, language) if readings else ("", None)


def readings_vector(encoder, readings: Sequence[Reading], media: MediaConfig | None = None) -> np.ndarray:
    """The query vector of a spoken query's readings: the mean of the text vectors of the first
    ``media.asr_query_readings`` (weights exp(``asr_query_readings_scale`` x average
    log-probability)), unit length. Why more than the chosen one: a misheard one-word clip often has
    the right word in a lower reading, and the text space puts near-spellings near each other."""
    media = media or MediaConfig()
    if not readings:
        raise InvalidInput("a spoken query with no readings has no text vector")
    use = list(readings[: max(1, media.asr_query_readings)])
    vecs = np.asarray(encoder.encode_text([r.text for r in use], mode="query"), dtype=np.float32)
    logprobs = np.array([r.logprob for r in use], np.float64)
    weights = np.exp(media.asr_query_readings_scale * (logprobs - logprobs.max()))
    vec = (weights[:, None] * vecs).sum(axis=0) / weights.sum()
    norm = float(np.linalg.norm(vec))
    return (vec / norm if norm > 0 else vec).astype(np.float32)


@dataclass(frozen=True)
class SpokenQuery:
    """What a spoken query was heard as: its text (the chosen reading: keywords and display), the
    language, and its query vector (:func:`readings_vector`); no words: text "" and no vector."""

    text: str
    language: str | None
    vector: np.ndarray | None
    readings: tuple[Reading, ...] = ()


def spoken_query(encoder, audio: str | os.PathLike, media: MediaConfig | None = None,
                 keywords: KeywordIndex | None = None) -> SpokenQuery:
    """A speech query as the library searches it (the one path ``xmodal search --audio`` and the
    evaluator's speech→image take): readings (:func:`query_readings`) -> text vector."""
    readings, language = query_readings(audio, media, keywords)
    if not readings or not is_speech(readings[0].text):
        return SpokenQuery(readings[0].text if readings else "", language, None, tuple(readings))
    return SpokenQuery(readings[0].text, language, readings_vector(encoder, readings, media), tuple(readings))


def row_budget(k: int, cfg: IngestConfig) -> int:
    """Rows fetched per vector field for ``k`` items (an item may hold many of the nearest rows)."""
    return max(k * cfg.candidate_multiplier, cfg.min_candidates)


class Searcher:
    """The queries of one library's collection ``col``; the encoder and the calibration are asked
    for (``encoder()``, ``calibration()``) only when a query needs them."""

    def __init__(self, col, store: SideStore, model: str, encoder: Callable[[], Any],
                 calibration: Callable[[], Calibration | None], settings: Config | None = None):
        settings = settings or Config()
        self.col = col
        self.media = settings.media  # the library's decoding / speech settings, for query files
        self.ingest = settings.ingest  # the library's ranking settings (budgets, floors, fusion, cuts)
        self.store = store
        self.model = model
        self._encoder = encoder
        self._calibration = calibration

    def search(self, text: str | None = None, image: Any = None, audio: str | os.PathLike | None = None,
               kind: str | Sequence[str] | None = None, where: Mapping | None = None, k: int = 10,
               keyword: bool = True, min_relevance: float | None = 0.0, fusion: str | None = None) -> SearchResults:
        """See :meth:`xmodal.ingest.library.Library.search`."""
        if sum(q is not None for q in (text, image, audio)) != 1:
            raise InvalidInput("search: give exactly one of text=, image= or audio=")
        if text is not None and not str(text).strip():
            raise InvalidInput("search: the text query is empty")
        kinds = parse_kinds(kind)
        k = positive_k(k)
        fusion = fusion or self.ingest.fusion
        if fusion not in ("calibrated", "rrf"):
            raise InvalidInput(f"fusion must be 'calibrated' or 'rrf', not {fusion!r}")
        if min_relevance is not None and not 0.0 <= float(min_relevance) <= 1.0:
            raise InvalidInput(f"min_relevance must lie in [0, 1], got {min_relevance!r}")
        out = SearchResults()
        if text is not None:
            out.warning = language_warning(str(text), self.model)
        if self.col is None:
            return out
        self._check_model()
        encoder = self._encoder()
        if image is None and "text" not in encoder.modalities:  # text and speech are searched as text
            raise InvalidInput(f"model {self.model!r} cannot encode text queries")
        sound = spoken = None
        if audio is not None:
            heard = spoken_query(encoder, audio, self.media, self.store.keywords)
            text, out.query_language = heard.text, heard.language
            if heard.vector is not None:
                spoken = heard.vector
                out.query_text = text
                out.warning = language_warning(text, self.model)
            else:  # a bark, a bell: searched by what it sounds like (xmodal.ingest.sound)
                sound, keyword, out.query_language = query_sound_vector(encoder, audio), False, None
        if image is not None:
            vec = encoder.encode_image([load_query_image(image, self.media)])[0]
            cal = self._calibration()
            if fusion == "calibrated" and cal is not None and any(f"image:{f}" in cal.fields
                                                                  for f in self.col.vector_fields):
                results = self._calibrated(vec, None, kinds, where, k, False, source="image:")
                out.calibrated = True
            else:
                results = self._fuse(*self._vector_rankings(vec, "image", kinds, where, k), k)
        else:
            vec = sound if sound is not None else spoken if spoken is not None else encoder.encode_text(
                [text], mode="query")[0]
            cal = self._calibration()
            if fusion == "calibrated" and cal is not None:
                # A sound as the query has mappings of its own (``sound:<field>``) where the model's
                # calibration was fitted with them; older ones read it as a text query.
                source = "sound:" if sound is not None and any(f.startswith("sound:") for f in cal.fields) else ""
                results = self._calibrated(vec, text, kinds, where, k, keyword, source=source)
                out.calibrated = True
            else:
                rankings, rows = self._vector_rankings(vec, "text", kinds, where, k)
                if keyword:
                    rankings[KEYWORD_LIST], rows[KEYWORD_LIST] = self._keyword_ranking(text, kinds, where, k)
                results = self._fuse(rankings, rows, k)
        if min_relevance is None:
            min_relevance = self.ingest.min_relevance if out.calibrated else 0.0
        out.extend(r for r in results if r.relevance >= min_relevance)
        return out

    def similar(self, item, k: int = 10, kind: str | Sequence[str] | None = None,
                where: Mapping | None = None) -> SearchResults:
        """Items nearest to the stored item record ``item`` (with its vectors), itself excluded; see
        :meth:`xmodal.ingest.library.Library.similar`."""
        k = positive_k(k)
        # More like a photo means photos: other kinds only when asked for (kind="all" or a list).
        kinds = None if kind == "all" else (parse_kinds(kind) or [item.payload.get("kind")])
        rankings: dict = {}
        rows: dict = {}
        for field, vec in (item.vectors or {}).items():
            r, rw = self._vector_rankings(np.asarray(vec, np.float32), field, kinds, where, k + 1)
            rankings.update(r)
            rows.update(rw)
        for name in rankings:
            rankings[name] = [i for i in rankings[name] if i != item.id]
        out = SearchResults()
        out.extend(self._fuse(rankings, rows, k))
        return out

    def _check_model(self) -> None:
        stored = self.col.metadata.get("model")
        if stored is not None and stored != self.model:
            raise ModelMismatch(f"collection {self.col.name!r} was indexed with {stored!r}, not {self.model!r}")

    def _vector_rankings(self, vec: np.ndarray, source: str, kinds, where, k: int):
        """One ranked list of item ids per vector field, each item keeping its best-matching row.

        Only rows whose similarity stands out among the field's nearest rows (all kinds) vote; when
        no field has such a row the lists are kept whole, so a query always gets its nearest items.
        """
        q = np.asarray(vec, np.float32)[None, :]
        budget = row_budget(k, self.ingest)
        flt = row_filter(kinds, where)
        raw: dict[str, list] = {}
        floors: dict[str, float] = {}
        for field in self.col.vector_fields:
            hits = self.col.search(field, q, k=budget, where=flt)[0]
            ref = self.col.search(field, q, k=budget, where=row_filter(None, where))[0] if kinds else hits
            raw[field] = hits
            floors[field] = floor([h.score for h in ref], self.ingest.field_floor_z)
        return best_rows(vector_lists(source, raw, floors))

    def _keyword_ranking(self, text: str, kinds, where, k: int):
        hits = self.store.keywords.search(text, row_budget(k, self.ingest), kinds)
        if not hits:
            return [], {}
        cut = hits[0][2] * self.ingest.keyword_min_ratio
        hits = [h for h in hits if h[2] >= cut]
        recs = {r.id: r for r in self.col.get([r for r, _, _ in hits])}
        check = self._payload_check(where)
        best: dict[str, Any] = {}
        for row_id, item_id, score in hits:
            rec = recs.get(row_id)
            if rec is None or item_id in best or (check is not None and not check(rec.payload)):
                continue  # stale keyword row, or filtered out
            best[item_id] = Hit(row_id, score, rec.payload)
        return list(best), best

    def _calibrated(self, vec: np.ndarray, text: str | None, kinds, where, k: int, keyword: bool,
                    source: str = "") -> list[SearchResult]:
        """Every candidate row's score -> relevance through the model's calibration, one signal per
        vector field plus keywords, each item keeping its best row; items ranked by the
        probabilistic OR of their signals (see :mod:`xmodal.ingest.ranking`). ``source`` prefixes
        the calibration's field names: ``"image:"`` for a picture as the query, ``"sound:"`` for a
        clip without speech."""
        cal = self._calibration()
        q = np.asarray(vec, np.float32)[None, :]
        flt = row_filter(kinds, where)
        signals: dict[str, dict[str, float]] = {}
        rows: dict[str, dict[str, Any]] = {}
        for field in self.col.vector_fields:
            if source + field not in cal.fields:
                continue  # no mapping for this kind of query on this field (a picture against sounds)
            hits = self.col.search(field, q, k=row_budget(k, self.ingest), where=flt)[0]
            signals[field], rows[field] = field_signal(field, hits, cal.mapping(source + field, q[0]),
                                                       self.ingest.ocr_weight)
        if keyword and text:
            signals[KEYWORD_LIST], rows[KEYWORD_LIST] = self._keyword_signal(text, kinds, where, k)
        fused = fuse(signals)[:k]
        items = {r.id: r for r in self.col.get([i for i, _ in fused])}
        out = []
        for item_id, relevance in fused:
            rec = items.get(item_id)
            if rec is None:
                continue
            payload = dict(rec.payload)
            matched = evidence_order(signals, item_id, payload.get("kind", ""))
            found, scores = evidence([(n, rows[n][item_id]) for _, n in matched], self.media.video_frame_interval_s)
            named = {(signal_name(n, role_of(rows[n][item_id].payload)) if n != KEYWORD_LIST else n): round(r, 4)
                     for r, n in sorted(matched, reverse=True)}
            out.append(SearchResult(path=payload.get("path", ""), kind=payload.get("kind", ""),
                                    score=round(relevance, 6), evidence=found, payload=payload, id=str(item_id),
                                    scores=scores, relevance=round(relevance, 4), signals=named))
        return out

    def _keyword_signal(self, text: str, kinds, where, k: int) -> tuple[dict, dict]:
        """Keyword relevance per item (see :func:`ranking.keyword_signal`), stale or filtered rows left out."""
        cfg, keywords = self.ingest, self.store.keywords
        hits = keywords.search_passages(text, row_budget(k, self.ingest), kinds)
        recs = {r.id: r for r in self.col.get(list(dict.fromkeys(h.row_id for h in hits)))} if hits else {}
        check = self._payload_check(where)
        hits = [h for h in hits if h.row_id in recs and (check is None or check(recs[h.row_id].payload))]
        df = keywords.doc_freqs(content_terms(text))
        relevance, best = keyword_signal(text, hits, df, keywords.count(),
                                         self._calibration().mapping(KEYWORD_LIST), cfg.rare_term_relevance,
                                         cfg.rare_term_max_share, cfg.rare_term_min_passages, cfg.evidence_chars)
        return relevance, {i: Hit(h.row_id, h.score, {**recs[h.row_id].payload, "text": snippet})
                           for i, (h, snippet) in best.items()}

    def _payload_check(self, where: Mapping | None):
        if not where:
            return None
        schema = self.col.payload_schema
        node = parse_filter(where, schema)
        return lambda payload: evaluate(node, payload, schema)

    def _fuse(self, rankings: dict, rows: dict, k: int) -> list[SearchResult]:
        cfg = self.ingest
        weights = {name: list_weight(name, cfg.keyword_weight, cfg.backfill_weight, cfg.ocr_weight) for name in rankings}
        fused = rrf(rankings, weights, cfg.rrf_k)[:k]
        items = {r.id: r for r in self.col.get([i for i, _ in fused])}
        out = []
        for item_id, score in fused:
            rec = items.get(item_id)
            if rec is None:
                continue
            ranks = sorted((lst.index(item_id), list_preference(name), name)
                           for name, lst in rankings.items() if item_id in rows[name])
            found, scores = evidence([(name, rows[name][item_id]) for _, _, name in ranks],
                                     self.media.video_frame_interval_s)
            payload = dict(rec.payload)
            cosine = max((v for n, v in scores.items() if n != KEYWORD_LIST), default=0.0)
            out.append(SearchResult(path=payload.get("path", ""), kind=payload.get("kind", ""), score=float(score),
                                    evidence=found, payload=payload, id=str(item_id), scores=scores,
                                    relevance=round(min(1.0, max(0.0, cosine)), 4),
                                    signals=list_signals([name for _, _, name in ranks], rows, item_id)))
        return out

