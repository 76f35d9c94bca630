"""Question answering with evidence over a media library: extractive first, generated if configured.

Public API (the CLI `xmodal ask` and the server call this)::

    from xmodal.apps.qa import ask
    ans = ask(lib, "When does the train to Cambridge leave?", image=None, k=5, kinds=None, where=None,
              llm="auto",                    # "auto": use XMODAL_LLM_URL if set; None: never; or a ChatClient
              settings=None)                 # an AppsConfig; None: the library's (lib.settings.apps)
    ans.answer          # extractive answer (best supporting sentences / segments, with [n] markers) or None
    ans.confidence      # calibrated 0..1
    ans.evidence        # list[Evidence] best first: path, kind, score, text, time, end, page, source, thumbnail
    ans.generated       # LLM answer grounded only in the cited evidence, or None
    ans.citations       # evidence numbers (1-based) the answer rests on
    ans.to_dict()       # the JSON object printed by `xmodal ask --json`

Pipeline and why: the library's cross-modal search finds candidate rows (passages, OCR text,
transcript segments, images, video frames); long texts are cut into sentences so the answer is
the sentence that holds it, not a 200-word chunk; each unit is scored by a text-to-text dense
model plus BM25 keywords (names and numbers), and the scores are calibrated into a probability
that the unit answers the question. Units of every modality are ranked on that one scale. When
the best is below ``qa_not_found_below`` the answer is None ("not found") instead of a guess.
Choosing among the units (only text answers, sentence quality, retrieval relevance and speech
recognition in the confidence, abstention) lives in :mod:`xmodal.apps.answers`. Every number
involved is a field of the ``settings`` passed down from :func:`ask`, never the global ``CONFIG``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from xmodal.apps.answers import (answer_features, answer_spans, asr_factor, compose_answer,  # noqa: F401
                                 factor_score, media_confidence, passage_vectors, relevance_factor, whole_signs,
                                 sentence_quality, text_confidence, unit_confidence, unit_factors, wants_picture)
from xmodal.apps.keywords import coverage, keyword_scores, rare_coverage, tokenize
from xmodal.apps.llm import ChatClient, CitedPassage
from xmodal.apps.retrieval import Unit, retrieve_units
from xmodal.config import AppsConfig
from xmodal.encoders import get_encoder
from xmodal.ingest.extract import name_words
from xmodal.ingest.ranking import language_warning
from xmodal.errors import InvalidInput, LLMError

__all__ = ["ask", "Answer", "Evidence", "Unit", "rank_units", "compose_answer", "sentence_encoder"]

TEXT_SOURCES = ("passage", "ocr", "transcript", "caption")


@dataclass
class Evidence:
    path: str
    kind: str
    score: float                 # calibrated probability that this unit answers the question
    source: str
    text: str | None = None
    time: float | None = None
    end: float | None = None
    page: int | None = None
    thumbnail: str | None = None
    raw: float = 0.0            # uncalibrated ranking score: dense + keyword mix, or media specificity
    keyword: float = 0.0
    factors: dict[str, float] = field(default_factory=dict)  # a text unit's answer factors (answers.unit_factors)

    def citation(self) -> str:
        """How a reader finds the spot: path plus page or timestamp."""
        where = f" p.{self.page}" if self.page is not None else ""
        where += f" at {self.time:.1f} s" if self.time is not None else ""
        return f"{self.path}{where}"

    def to_dict(self) -> dict[str, Any]:
        d = {"path": self.path, "kind": self.kind, "score": round(self.score, 4), "source": self.source}
        for key in ("text", "time", "end", "page", "thumbnail"):
            value = getattr(self, key)
            if value is not None:
                d[key] = round(value, 2) if isinstance(value, float) else value
        return d


@dataclass
class Answer:
    question: str
    answer: str | None
    confidence: float
    evidence: list[Evidence] = field(default_factory=list)
    citations: list[int] = field(default_factory=list)
    generated: str | None = None
    generated_citations: list[int] = field(default_factory=list)
    llm_error: str | None = None
    warning: str | None = None  # set when the library's model cannot read the question's language
    features: dict[str, float] = field(default_factory=dict)  # what the confidence model read (answers.answer_features)

    @property
    def found(self) -> bool:
        return self.answer is not None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"question": self.question, "answer": self.answer,
                             "confidence": round(self.confidence, 4), "found": self.found,
                             "citations": self.citations, "evidence": [e.to_dict() for e in self.evidence]}
        if self.generated is not None:
            d["generated"] = self.generated
            d["generated_citations"] = self.generated_citations
        if self.llm_error:
            d["llm_error"] = self.llm_error
        if self.warning:
            d["warning"] = self.warning
        return d


def expand_units(units: Sequence[Unit], window_words: int | None = None) -> list[Unit]:
    """Cut passages into sentences and OCR text into lines; transcript segments stay whole (they carry time).
    ``window_words``: the word count of a full window of a long document (see :func:`answer_spans`)."""
    out: list[Unit] = []
    for u in units:
        if not u.text or u.source not in ("passage", "ocr", "caption"):
            out.append(u)
            continue
        out.extend(replace(u, text=piece) for piece in answer_spans(u.text, u.source, window_words))
    return out + whole_signs(units)[len(units):]


def rank_units(question: str, units: Sequence[Unit], encoder, window_words: int | None = None,
               settings: AppsConfig | None = None) -> list[Evidence]:
    """Score every unit on one calibrated scale and return evidence best first, duplicates merged.

    ``encoder`` needs ``encode_text(texts, mode=...)`` returning L2-normalised rows; ``window_words``
    the library's ``chunk_tokens`` (a passage that long may end mid-sentence: :func:`answer_spans`);
    ``settings`` the scoring coefficients (``qa_*``, ``bm25_*``), default ``AppsConfig()``.
    """
    cfg = settings or AppsConfig()
    units = expand_units(units, window_words)
    seen: set[tuple] = set()
    unique: list[Unit] = []
    for u in units:
        key = (u.path, u.source, u.text, u.time, u.page)
        if key not in seen:
            seen.add(key)
            unique.append(u)
    text_units = [u for u in unique if u.text]
    evidence: list[Evidence] = []
    if text_units:
        texts = [u.text for u in text_units]
        q = encoder.encode_text([question], mode="query")
        p = passage_vectors(encoder, texts)
        dense = np.clip((p @ q[0]).astype(np.float64), 0.0, 1.0)
        # A file's name as words ("city-tour.mp4" -> "city tour"): questions often point at it.
        names = [name_words(Path(u.path)) for u in text_units]
        kw = keyword_scores(question, texts, names, cfg.bm25_k1, cfg.bm25_b)
        q_terms = tokenize(question)
        terms = [tokenize(u.text) + tokenize(name) for u, name in zip(text_units, names)]
        rare = rare_coverage(q_terms, terms)
        w = cfg.qa_dense_weight
        for u, d, k_, t, r in zip(text_units, dense, kw, terms, rare):
            factors = unit_factors(float(d), coverage(q_terms, t), u.text, u.source, u.relevance, u.asr_logprob,
                                   question, cfg)
            factors["rare"] = r  # read by answer_features, not part of the unit's own score
            conf = factor_score(factors, cfg)
            evidence.append(Evidence(u.path, u.kind, conf, u.source, u.text, u.time, u.end, u.page, u.thumbnail,
                                     raw=float(w * d + (1 - w) * k_), keyword=float(k_), factors=factors))
    for u in unique:
        if not u.text:
            evidence.append(Evidence(u.path, u.kind, media_confidence(u.retrieval, cfg), u.source, None,
                                     u.time, u.end, u.page, u.thumbnail, raw=u.retrieval))
    # Calibrated score first; the uncalibrated mix breaks ties between near-equal units.
    evidence.sort(key=lambda e: (round(e.score, 3), e.raw), reverse=True)
    return evidence


def _passages(evidence: Sequence[Evidence], numbers: Sequence[int]) -> list[CitedPassage]:
    out = []
    for n in numbers:
        e = evidence[n - 1]
        text = e.text if e.text is not None else f"(an {e.source} with no text; file {e.path})"
        out.append(CitedPassage(n, e.citation(), text))
    return out


def sentence_encoder(name: str = AppsConfig.qa_sentence_encoder):
    """The text-to-text model that scores evidence sentences (``qa_sentence_encoder``)."""
    return get_encoder(name)


def ask(lib, question: str, *, image: Any = None, k: int | None = None, kinds: Sequence[str] | None = None,
        where: Mapping | None = None, llm: Any = "auto", settings: AppsConfig | None = None) -> Answer:
    """Answer ``question`` (optionally with an image) from ``lib``; see the module docstring.

    ``settings``: every ``qa_*`` / ``llm_*`` number (evidence count, scoring, confidence model,
    abstention threshold), default the library's (``lib.settings.apps``): the CLI and the server
    open the library with their settings, so nothing here reads the global ``CONFIG``."""
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput(f"question must be non-empty text, got {question!r}")
    settings = settings or lib.settings.apps
    k = settings.qa_evidence_k if k is None else k
    if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
        raise InvalidInput(f"k must be a positive integer, got {k!r}")
    units = retrieve_units(lib, question, image=image, kinds=kinds, where=where, settings=settings)
    evidence = rank_units(question, units, sentence_encoder(settings.qa_sentence_encoder),
                          lib.settings.media.chunk_tokens, settings)
    answer, confidence, ordered, n_cited = compose_answer(evidence, settings.qa_conf_model,
                                                          settings.qa_not_found_below,
                                                          text_wanted=not wants_picture(question), settings=settings)
    cited = list(range(1, n_cited + 1))
    shown = ordered[: max(k, len(cited))]
    result = Answer(question, answer, confidence, shown, cited, warning=language_warning(question, lib.model),
                    features=answer_features(evidence))
    client = ChatClient.from_env(settings) if llm == "auto" else llm
    if client is not None and cited:
        # The model sees exactly the evidence the extractive answer cites, under the same numbers.
        try:
            gen = client.answer(question, _passages(shown, cited))
            result.generated, result.generated_citations = gen.text, gen.citations
        except LLMError as exc:
            result.llm_error = str(exc)
    return result
