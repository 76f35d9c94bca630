"""Choosing the answer: which evidence text can be "the answer", how sure to be, and when to abstain.

Why a module of its own: retrieval (:mod:`xmodal.apps.qa`, :mod:`xmodal.apps.retrieval`) finds
candidate units; this module judges them as answers, with no access to the library:

- only text answers (a sentence, an OCR line, a transcript segment): a picture or a video frame can
  be evidence, never "the answer" -- a file path answers no question;
- fragments, headings, command synopses and bare paths read less like answers
  (:func:`sentence_quality`);
- a unit's confidence multiplies what the words say (dense similarity and keyword coverage,
  :func:`text_confidence`) by its sentence quality, the calibrated retrieval relevance of its item
  (:func:`relevance_factor`) and, for speech, how sure the recogniser was (:func:`asr_factor`, from
  faster-whisper's average log-probability stored at ingest); a logistic rescaling
  (``qa_conf_platt_*``) turns that product into each unit's score, which orders the evidence;
- the answer's confidence is a small logistic model over features of the best text unit and its
  rivals (:func:`answer_features`: the product above, its factors one by one, the margin over the
  next unit, how many of the next units come from the same file and how much of the question's
  rarity it holds; :func:`answer_confidence`), whose weights (``qa_conf_model``) are fitted on the
  validation half of the QA set by ``python -m benchmarks.bench_apps --only qa --fit`` and passed in
  by the caller. The default weighs seven of them: on 135 validation questions that model forecast
  held-out questions better than the product alone (BENCHMARKS.md);
- a question asking for a number or a time is not answered by a unit that has none, nor a request
  to be shown a thing ("a cup of coffee") by any text (:func:`answer_type_factor`); a short sign's
  OCR lines also answer as a whole (:func:`whole_signs`);
- below ``qa_not_found_below`` (chosen on the same validation half) the answer is None: abstain.

The numbers named here are fields of :class:`xmodal.config.AppsConfig`; each function takes them
from the ``settings`` its caller passes (:func:`xmodal.apps.qa.ask` passes the library's), the
defaults (``AppsConfig()``) when none are given -- never from the process-wide ``CONFIG``.
"""
from __future__ import annotations

import dataclasses
import math
import re
import threading
from collections import OrderedDict
from typing import Mapping, Protocol, Sequence, TypeVar

import numpy as np

from xmodal.apps.sentences import split_lines, split_sentences
from xmodal.config import AppsConfig
from xmodal.errors import InvalidInput
from xmodal.media.chunking import count_words

__all__ = ["Scored", "text_confidence", "media_confidence", "sentence_quality", "PASSAGE_CACHE_SIZE",
           "passage_vectors", "FAQ_ANSWER_CHARS", "answer_spans", "asr_factor", "relevance_factor", "compose_answer",
           "recalibrate", "answer_type_factor", "CUT_MARK", "wants_picture", "unit_confidence", "unit_factors",
           "SIGN_MAX_CHARS", "whole_signs",
           "ANSWER_FEATURES", "answer_features", "factor_score", "answer_confidence", "check_confidence_model"]


class Scored(Protocol):
    """What the answer rule reads of a piece of evidence (``xmodal.apps.qa.Evidence`` is one)."""

    path: str
    source: str
    score: float
    text: str | None
    factors: Mapping[str, float]  # a text unit's answer factors (:func:`unit_factors`); empty otherwise


E = TypeVar("E", bound=Scored)

def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def text_confidence(dense: float, keyword_coverage: float, settings: AppsConfig | None = None) -> float:
    """Calibrated probability that a text unit answers (coefficients ``qa_conf_*`` of ``settings``)."""
    c = settings or AppsConfig()
    return _sigmoid(c.qa_conf_bias + c.qa_conf_dense_slope * dense + c.qa_conf_keyword_slope * keyword_coverage)


def media_confidence(specificity: float, settings: AppsConfig | None = None) -> float:
    """Calibrated probability for evidence with no text (an image or frame), from how much better the
    question describes it than generic captions do (a z-score; see :func:`xmodal.apps.retrieval.specificity`)."""
    c = settings or AppsConfig()
    return _sigmoid(c.qa_conf_media_bias + c.qa_conf_media_slope * specificity)


_SYNOPSIS = re.compile(r"\[-{1,2}\w|\[[A-Z_]{2,}\]|\w\s*(\.\.\.|…)\s*\]|\s\|\s")
_OPTION = re.compile(r"(?:^|\s)-{1,2}[a-zA-Z][\w-]*(?=\s|=|$)")
_PATH = re.compile(r"(^|\s)[~.]?/?[\w.-]+/[\w./-]+")
_LETTERS = re.compile(r"[^\W\d_]{2,}", re.UNICODE)


CUT_MARK = " …"  # ends a passage piece that its window cut off mid-sentence (shown, and read as a fragment)
_POINTER = re.compile(r"(see|read) (below|above)\b|(as|is) (described|explained|shown) (below|above)\b", re.IGNORECASE)
_SENTENCE_DONE = re.compile(r"[.!?。！？:;…][\"'”’)\]]*$")


def sentence_quality(text: str, source: str) -> float:
    """How much a unit reads like an answer, in (0, 1]: a command synopsis ("tar --list [-f
    ARCHIVE]"), a file path, a heading or a one-word fragment ("src") can hold the question's words
    without saying anything. OCR lines are short by nature and only lose for being a single word."""
    t = " ".join(text.split())
    words = _LETTERS.findall(t)
    q = 1.0
    if len(words) <= 1:
        q *= 0.3
    elif len(words) < 4 and source not in ("ocr", "caption"):
        q *= 0.6
    if _SYNOPSIS.search(t) or (len(_OPTION.findall(t)) >= 2 and not re.search(r"[.!?]$", t)):
        q *= 0.35
    if _PATH.search(t) and len(words) < 8:
        q *= 0.4
    if _is_question(t):
        q *= 0.3  # a question with no reply after it answers nothing
    if source == "passage" and t[:1].islower():
        q *= 0.6  # starts mid-sentence: a piece cut from a longer text
    if source == "passage" and t.endswith(CUT_MARK):
        q *= 0.6  # ends mid-sentence: cut off by its window (answer_spans marks it)
    if source == "passage" and _POINTER.match(t):
        q *= 0.5  # "See below for a comparison of zip and gzip.": points at the answer, does not give it
    if source == "passage" and _is_lead_in(t):
        q *= 0.5  # "Bug reports should ideally include:" with nothing after it introduces, says nothing
    if source == "passage" and (t.startswith("#") or (len(words) <= 8 and not re.search(r"[.!?。！？:;]$", t)
                                                       and sum(w[0].isupper() for w in words) >= len(words) / 2)):
        q *= 0.6  # a heading or title: no sentence, mostly capitalised words
    return q


PASSAGE_CACHE_SIZE = 20000  # sentence vectors kept per process (a few tens of MB at 384 dimensions)
_passage_cache: "OrderedDict[tuple[str, str], np.ndarray]" = OrderedDict()
_passage_lock = threading.Lock()


def passage_vectors(encoder, texts: Sequence[str]) -> np.ndarray:
    """``encoder.encode_text(texts, mode="passage")``, remembering each sentence's vector: questions
    about one library meet the same sentences again and again (a manual's FAQ, a transcript), and
    encoding them is most of the time an answer takes."""
    name = getattr(encoder, "name", "") or str(id(encoder))
    with _passage_lock:
        missing = list(dict.fromkeys(t for t in texts if (name, t) not in _passage_cache))
    if missing:
        fresh = encoder.encode_text(missing, mode="passage")
        with _passage_lock:
            for t, v in zip(missing, fresh):
                _passage_cache[(name, t)] = np.asarray(v, np.float32)
            while len(_passage_cache) > PASSAGE_CACHE_SIZE:
                _passage_cache.popitem(last=False)
    with _passage_lock:
        out = []
        for t in texts:
            v = _passage_cache.get((name, t))
            if v is None:  # evicted by another thread meanwhile: encode it again
                v = np.asarray(encoder.encode_text([t], mode="passage")[0], np.float32)
            else:
                _passage_cache.move_to_end((name, t))
            out.append(v)
    return np.stack(out) if out else np.zeros((0, getattr(encoder, "dim", 0)), np.float32)


FAQ_ANSWER_CHARS = 320  # how much of what follows a question in a text joins it as its answer


def answer_spans(text: str, source: str, window_words: int | None = None) -> list[str]:
    """The pieces of a passage or OCR text that can each be an answer: OCR lines, or sentences --
    where a sentence is itself a question or a numbered FAQ entry (a FAQ, a man page's "Why does
    ...?"), it is joined with the sentences that answer it (up to ``FAQ_ANSWER_CHARS``): the
    question alone is the most similar sentence to a user's question and says nothing, the reply
    alone may not name the topic. A lead-in ending with a colon ("Bug reports should ideally
    include:") is joined with what it introduces the same way: alone it says nothing.
    ``window_words``: the word count of a full window of a long document (the library's
    ``chunk_tokens``); a passage of that many words whose last sentence does not end was cut there
    (the next window holds the sentence whole): that piece is marked with ``CUT_MARK``, so it reads
    as the fragment it is. A shorter text is a whole document or its last window: nothing is cut."""
    if source == "ocr":
        return [s.text for s in split_lines(text)]
    sentences = [s.text for s in split_sentences(text)]
    out: list[str] = []
    for i, s in enumerate(sentences):
        numbered = i > 0 and not _LETTERS.search(sentences[i - 1])  # "5. deflate() returns Z_BUF_ERROR."
        if not (_is_question(s) or _is_lead_in(s) or (numbered and _LETTERS.search(s))):
            out.append(s)
            continue
        reply: list[str] = []
        for nxt in sentences[i + 1:]:
            if (_is_question(nxt) or not _LETTERS.search(nxt)  # the next question, or its number ("12.")
                    or (reply and len(" ".join(reply)) + len(nxt) > FAQ_ANSWER_CHARS)):
                break
            reply.append(nxt)
        out.append(" ".join([s, *reply]))
    if (source == "passage" and window_words and len(sentences) > 1 and not _SENTENCE_DONE.search(sentences[-1])
            and count_words(text) >= window_words):
        out = [o + CUT_MARK if o.endswith(sentences[-1]) else o for o in out]
    return out


def _is_question(sentence: str) -> bool:
    return sentence.rstrip().endswith(("?", "？"))


def _is_lead_in(sentence: str) -> bool:
    return sentence.rstrip().endswith((":", "："))


def asr_factor(logprob: float | None, settings: AppsConfig | None = None) -> float:
    """How far to trust a transcript segment's words (1 when the recogniser's score is unknown)."""
    if logprob is None:
        return 1.0
    c = settings or AppsConfig()
    return _sigmoid(c.qa_asr_logprob_slope * (float(logprob) - c.qa_asr_logprob_mid))


def relevance_factor(relevance: float | None, weight: float = AppsConfig.qa_relevance_weight) -> float:
    """Retrieval's calibrated relevance of the unit's item, as a soft factor (1 when uncalibrated);
    ``weight``: how much of the factor it decides (``qa_relevance_weight``)."""
    if relevance is None:
        return 1.0
    w = weight
    return 1.0 - w + w * min(1.0, max(0.0, float(relevance)))


def compose_answer(evidence: Sequence[E], model: Sequence[tuple[str, float]] | None = None,
                   threshold: float | None = None, text_wanted: bool = True,
                   settings: AppsConfig | None = None) -> tuple[str | None, float, list[E], int]:
    """The extractive answer, its confidence, the evidence re-ordered so the units the answer cites
    come first (the answer's ``[n]`` markers are their 1-based positions), and how many it cites.

    Only text is ever the answer (a sentence, OCR line or transcript segment): a picture or frame
    can be evidence, never "the answer" -- a file path answers no question. The confidence is
    ``model`` (``qa_conf_model``: :func:`answer_confidence` of :func:`answer_features`) or, with no
    model or a lead without factors, the best text unit's own score. Below ``threshold``
    (``settings.qa_not_found_below`` when None) the answer is None: abstain. Picture units of a file
    whose text is cited are dropped as redundant. ``settings`` (default ``AppsConfig()``) also says how
    many units the answer joins and how close to the best they must score (``qa_answer_*``).

    ``text_wanted=False`` (a request to be shown a thing, :func:`wants_picture`) gives no text
    answer, at confidence 0, whatever the model says: a learned confidence weighs the request's penalty against
    other features and could let the one-word transcript "Kangaroo." answer "a kangaroo"; what
    answers a request is the picture at the top of the evidence, so the rule is not a weight.
    """
    cfg = settings or AppsConfig()
    threshold = cfg.qa_not_found_below if threshold is None else threshold
    if not evidence:
        return None, 0.0, [], 0
    texts = [e for e in evidence if e.text]
    lead = texts[0] if texts else None
    if lead is None:
        return None, 0.0, list(evidence), 0
    confidence = lead.score
    if model and lead.factors:
        confidence = answer_confidence(answer_features(evidence), model)
    if not text_wanted:
        return None, 0.0, list(evidence), 0  # no text is the answer: nothing to be confident in
    if confidence < threshold:
        return None, confidence, list(evidence), 0
    cited = []
    for e in texts:
        if len(cited) >= cfg.qa_answer_units:
            break
        if e.score >= cfg.qa_answer_relative * lead.score and all(e.text != c.text for c in cited):
            cited.append(e)
    quoted_paths = {c.path for c in cited}
    rest = [e for e in evidence if e not in cited and not (e.source == "image" and e.path in quoted_paths)]
    answer = " ".join(f"{c.text} [{i}]" for i, c in enumerate(cited, 1))
    return answer, confidence, cited + rest, len(cited)


# What the answer-confidence model reads (see answer_features); qa_conf_model weighs these plus "bias".
ANSWER_FEATURES = ("score", "dense", "keyword", "quality", "type", "relevance", "asr", "margin", "agreement", "rare")
AGREEMENT_UNITS = 4  # text units after the best one that can agree with it (come from the same file)
MARGIN_CAP = 6.0     # logits: a lone candidate is not infinitely sure


def answer_features(evidence: Sequence[Scored]) -> dict[str, float]:
    """Features of the best text unit as an answer, for :func:`answer_confidence`: ``score`` the
    logit of its product of factors; ``dense`` and ``keyword`` what the words say; the log of each
    further factor (``quality``, ``type``, ``relevance``, ``asr``: 0 when it does not apply);
    ``margin`` how far (logits) it leads the next different text unit -- two rival sentences close
    together mean the words alone cannot tell which answers; ``agreement`` the share of the next
    ``AGREEMENT_UNITS`` text units from the same file; ``rare`` the share of the question's rarity
    it holds (:func:`xmodal.apps.keywords.rare_coverage`, over the candidates; its plain keyword
    coverage where the ranking did not give it). Empty when there is no text unit with factors."""
    texts = [e for e in evidence if e.text]
    if not texts or not texts[0].factors:
        return {}
    lead, f = texts[0], texts[0].factors
    score = _logit(_product(f))
    rival = next((e for e in texts[1:] if e.text != lead.text and e.factors), None)
    margin = MARGIN_CAP if rival is None else score - _logit(_product(rival.factors))
    nxt = texts[1:1 + AGREEMENT_UNITS]
    return {"score": score, "dense": float(f["dense"]), "keyword": float(f["keyword"]),
            "quality": math.log(max(1e-6, f["quality"])), "type": math.log(max(1e-6, f["type"])),
            "relevance": math.log(max(1e-6, f["relevance"])), "asr": math.log(max(1e-6, f["asr"])),
            "margin": min(MARGIN_CAP, max(0.0, margin)),
            "agreement": sum(e.path == lead.path for e in nxt) / len(nxt) if nxt else 0.0,
            "rare": float(f.get("rare", f["keyword"]))}


def check_confidence_model(model: Sequence[tuple[str, float]]) -> dict[str, float]:
    """``model`` (pairs of feature name and weight, "bias" the intercept) as a dict; an unknown
    name or a non-number weight is refused, naming it."""
    out: dict[str, float] = {}
    for pair in model:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise InvalidInput(f"qa_conf_model: expected (feature, weight) pairs, got {pair!r}")
        name, weight = pair
        if name != "bias" and name not in ANSWER_FEATURES:
            raise InvalidInput(f"qa_conf_model: unknown feature {name!r} (known: bias, {', '.join(ANSWER_FEATURES)})")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise InvalidInput(f"qa_conf_model: weight of {name!r} must be a finite number, got {weight!r}")
        out[name] = float(weight)
    return out


def answer_confidence(features: Mapping[str, float], model: Sequence[tuple[str, float]]) -> float:
    """Probability that the best text unit is a right answer: ``sigmoid(bias + sum(w * feature))``
    with ``model`` (``qa_conf_model``, fitted on the validation half of the QA set). A feature the
    model weighs but ``features`` lacks is refused, naming it."""
    weights = check_confidence_model(model)
    z = weights.get("bias", 0.0)
    for name, w in weights.items():
        if name == "bias":
            continue
        if name not in features:
            raise InvalidInput(f"answer features lack {name!r}, which qa_conf_model weighs")
        z += w * float(features[name])
    return _sigmoid(max(-30.0, min(30.0, z)))


def _product(factors: Mapping[str, float]) -> float:
    return float(factors["words"] * factors["quality"] * factors["type"] * factors["relevance"] * factors["asr"])


def factor_score(factors: Mapping[str, float], settings: AppsConfig | None = None) -> float:
    """A unit's score from its :func:`unit_factors`: the product, rescaled (:func:`recalibrate`)."""
    return recalibrate(_product(factors), settings)


def _logit(p: float) -> float:
    p = min(1.0 - 1e-6, max(1e-6, p))
    return math.log(p / (1.0 - p))


def recalibrate(score: float, settings: AppsConfig | None = None) -> float:
    """The product of the answer factors as a probability: ``sigmoid(a * logit(score) + b)`` with
    ``a``, ``b`` = ``qa_conf_platt_slope``, ``qa_conf_platt_bias`` of ``settings`` (monotone: the order is kept)."""
    c = settings or AppsConfig()
    return _sigmoid(c.qa_conf_platt_slope * _logit(score) + c.qa_conf_platt_bias)


_NUMBER_WORDS = frozenset("""zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
thousand million billion dozen half twice once single double""".split())
_TIME_WORDS = frozenset("""monday tuesday wednesday thursday friday saturday sunday mondays tuesdays wednesdays
thursdays fridays saturdays sundays weekend weekends daily weekly monthly yearly today tomorrow yesterday tonight
morning afternoon evening night noon midnight january february march april may june july august september
october november december spring summer autumn winter always never hourly""".split())
_WANTS_NUMBER = re.compile(r"^\s*(how (many|much|long|often|old|far|fast|big|heavy|tall|high)|what (year|time|age|"
                           r"percentage|price|size)|in (what|which) year)\b", re.IGNORECASE)
_WANTS_TIME = re.compile(r"^\s*(when\b|(on|at) (what|which) (day|time|date|hour)|what day|which day)", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
_WANTS_NAME = re.compile(r"^\s*(who|whom|whose)\b", re.IGNORECASE)
# A request to be shown something, not a question: "a cup of coffee", "Show me a photo of a cat".
_SHOW_ME = re.compile(r"^\s*((show|find|give)\s+me\b|(a|an|the|some)\s|(photo|picture|image|drawing)s?\s+of\b)",
                      re.IGNORECASE)
_QUESTION_WORD = re.compile(r"\b(what|which|who|whom|whose|when|where|why|how)\b", re.IGNORECASE)
SHOW_ME_MAX_WORDS = 8  # longer requests ("the ... that ...") read as questions asked without a question mark


def wants_picture(question: str) -> bool:
    """Whether ``question`` asks to be shown a thing ("a cup of coffee", "show me a photo of a
    cat") rather than asks a question: a noun phrase with no question word or mark. What answers it
    is a picture or a moment of a video, never a sentence that happens to mention the thing."""
    q = question.strip()
    return (bool(_SHOW_ME.search(q)) and not q.endswith(("?", "？")) and not _QUESTION_WORD.search(q)
            and len(q.split()) <= SHOW_ME_MAX_WORDS)


def answer_type_factor(question: str | None, text: str, settings: AppsConfig | None = None) -> float:
    """A question asking for a number or a time ("how many", "how much", "when", "which day") is not
    answered by a unit that holds no number, date, day or time word -- the sign that names the pool
    does not say when it opens -- nor a "who" question by one that names nobody (no capitalised
    word past the first, no address); a request to be shown a thing (:func:`wants_picture`) by no
    text at all. 1 when the question asks for nothing of the kind or the unit has it. The factors
    otherwise are ``qa_picture_request_factor`` and ``qa_answer_type_penalty`` of ``settings``."""
    if not question:
        return 1.0
    c = settings or AppsConfig()
    if wants_picture(question):  # "a cup of coffee": no sentence is the answer (the picture is evidence)
        return c.qa_picture_request_factor
    if _WANTS_NAME.search(question):  # a person or an organisation: a capitalised name past the first word
        names = [w for w in re.findall(r"[^\W\d_][\w'-]*", text)[1:] if w[:1].isupper()]
        return 1.0 if names or "@" in text else c.qa_answer_type_penalty
    wants_number = bool(_WANTS_NUMBER.search(question))
    wants_time = bool(_WANTS_TIME.search(question))
    if not (wants_number or wants_time):
        return 1.0
    words = set(re.findall(r"[^\W\d_]+", text.lower()))
    has = bool(_DIGIT.search(text)) or bool(words & _NUMBER_WORDS) or (wants_time and bool(words & _TIME_WORDS))
    return 1.0 if has else c.qa_answer_type_penalty


def unit_factors(dense: float, keyword_coverage: float, text: str, source: str,
                 relevance: float | None = None, asr_logprob: float | None = None,
                 question: str | None = None, settings: AppsConfig | None = None) -> dict[str, float]:
    """The factors of one text unit's answer score (see the module docstring): ``words`` (from
    ``dense`` and ``keyword``), ``quality``, ``type``, ``relevance`` and ``asr``, each in (0, 1]
    but the first two inputs kept too; :func:`answer_features` reads them. Coefficients from
    ``settings`` (default ``AppsConfig()``)."""
    c = settings or AppsConfig()
    return {"dense": float(dense), "keyword": float(keyword_coverage),
            "words": text_confidence(dense, keyword_coverage, c), "quality": sentence_quality(text, source),
            "type": answer_type_factor(question, text, c), "relevance": relevance_factor(relevance, c.qa_relevance_weight),
            "asr": asr_factor(asr_logprob, c)}


def unit_confidence(dense: float, keyword_coverage: float, text: str, source: str,
                    relevance: float | None = None, asr_logprob: float | None = None,
                    question: str | None = None, settings: AppsConfig | None = None) -> float:
    """Probability that one text unit is the answer: words, sentence quality, the kind of answer the
    question asks for, retrieval relevance and speech-recognition confidence together (see the
    module docstring)."""
    return factor_score(unit_factors(dense, keyword_coverage, text, source, relevance, asr_logprob, question, settings),
                        settings)


SIGN_MAX_CHARS = 200  # OCR text of one picture up to this length is a sign: its lines answer together


def whole_signs(units: list, max_chars: int = SIGN_MAX_CHARS) -> list:
    """``units`` plus, per picture whose OCR blocks (rows) together are short (a sign, a label, a
    slide), one unit of all of them: "CAR WASH FULL SERVICE" / "12 EUROS" answers "how much is a car
    wash" only as a whole. Units are dataclasses with ``path``, ``source`` and ``text``."""
    lines: dict[str, list] = {}
    for u in units:
        if u.source == "ocr" and u.text:
            lines.setdefault(u.path, []).append(u)
    extra = []
    for group in lines.values():
        texts = list(dict.fromkeys(" ".join(u.text.split()) for u in group))
        joined = " ".join(texts)
        if len(texts) > 1 and len(joined) <= max_chars:
            extra.append(dataclasses.replace(group[0], text=joined))
    return list(units) + extra
