"""Ranking a person can trust: per-signal relevance in [0, 1] and its fusion across kinds.

Why: reciprocal-rank fusion gives every list's best hit an equal share however weak the match, so a
man page can outrank the photo a query describes, and its scores mean nothing to a reader. Here each
signal's raw score (a cosine in one vector field, keyword evidence) is mapped to an estimate of the
probability that the item is relevant, through a monotone logistic fitted per model and per field on
held-out queries (``xmodal/ingest/calibration/<model>.json``, written by ``python -m
xmodal.ingest.calibrate``). Signals are then fused by a probabilistic OR: an item is relevant if any
signal says so, and agreeing signals add up without ever passing 1. Everything here is pure:
numbers in, numbers out.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from xmodal.errors import InvalidInput
from xmodal.ingest.layout import item_of, role_of

__all__ = ["CALIBRATION_DIR", "KEYWORD", "ENGLISH_ONLY_PREFIXES", "MULTILINGUAL_MODEL", "STOPWORDS",
           "MIN_TOKEN_CHARS", "fold", "content_terms", "code_terms", "idf", "weighted_coverage", "is_rare",
           "passage_tokens", "holds_sequence", "KeywordMatch", "keyword_match", "best_window", "Logistic",
           "fit_logistic", "brier", "Calibration", "query_background", "zscores", "calibration_path",
           "load_calibration", "prob_or", "fuse", "signal_name", "field_signal", "keyword_signal", "evidence_order",
           "non_latin_share", "model_reads_only_english", "language_warning", "KEYWORD_LIST", "BACKFILL", "OCR_LIST",
           "floor", "vector_lists", "best_rows", "list_weight", "list_preference", "same_moment", "evidence"]

CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration"
KEYWORD = "keyword"  # the calibration field of keyword evidence
# Models that read English only; a query in another script is mostly noise to them.
ENGLISH_ONLY_PREFIXES = ("xmodal-lite", "minilm", "label-bridge", "clip:")
MULTILINGUAL_MODEL = "xmodal-lite-multilingual"

# Words that match nearly every English passage: they must not drive keyword matching.
STOPWORDS = frozenset("""a an the of and or to in on at for from by with is are was were be been being it its this
that these those i me my we our you your he him his she her they them their do does did done how what when where
which who whom why can could should would will shall may might must not no yes as if so than then there here
about into onto off over under up down out all any some each every both few more most other such only own same
too very just also again once have has had having am get got let us s t don isn aren wasn weren
show find give tell look looking picture pictures photo photos image images""".split())
# Words a query uses to ask for a kind of media: stop words for matching, not for intent.
MIN_TOKEN_CHARS = 2  # shorter tokens (single letters, digits) never drive keyword matching
_WORD = re.compile(r"\w+", re.UNICODE)
_CODE = re.compile(r"\w+(?:[-_./:]\w+)+", re.UNICODE)  # glob-deleteall, listed_incremental, v2.1
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_NON_LATIN = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u05ff\u0600-\u06ff\u0900-\u097f\u0e00-\u0e7f"
                        r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


# ----------------------------------------------------------------------------- query terms
def fold(word: str) -> str:
    """A token as FTS5's ``unicode61 remove_diacritics 2`` stores it: lower case, no accents."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def content_terms(query: str) -> list[str]:
    """The query's words that may drive keyword matching, folded, in order, once each: no stop
    words, no tokens shorter than ``MIN_TOKEN_CHARS`` (a CJK character counts as a word)."""
    spaced = _CJK.sub(lambda m: f" {m.group(0)} ", query)
    out: list[str] = []
    for w in _WORD.findall(spaced):
        t = fold(w)
        if t in STOPWORDS or (len(t) < MIN_TOKEN_CHARS and not _CJK.match(t)):
            continue
        if t not in out:
            out.append(t)
    return out


def code_terms(query: str) -> list[list[str]]:
    """Code-like tokens of the query (``glob-deleteall``, ``--listed-incremental``, ``v2.1``) as
    their folded word sequences: an exact match of one is strong evidence of the right document."""
    return [[fold(w) for w in _WORD.findall(m.group(0))] for m in _CODE.finditer(query)]


def idf(doc_freq: int, n_docs: int) -> float:
    """BM25's inverse document frequency (never negative)."""
    return math.log(1.0 + (n_docs - doc_freq + 0.5) / (doc_freq + 0.5))


def weighted_coverage(terms: Sequence[str], matched: Iterable[str], doc_freq: Mapping[str, int],
                      n_docs: int) -> float:
    """Share of the query's IDF mass a passage holds: 1.0 when it holds every content word, and a
    rare word counts for more than a common one. ``doc_freq`` misses count as frequency 0."""
    if not terms:
        return 0.0
    have = set(matched)
    weights = {t: idf(doc_freq.get(t, 0), n_docs) for t in terms}
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in have) / total if total > 0 else 0.0


def is_rare(doc_freq: int, n_docs: int, max_share: float, min_docs: int) -> bool:
    """A term held by few passages of a library large enough for "few" to mean something."""
    return n_docs >= min_docs and 0 < doc_freq <= max(1, int(max_share * n_docs))


def passage_tokens(text: str) -> list[str]:
    """Folded word tokens of a passage (CJK characters one each), for matching query terms."""
    return [fold(w) for w in _WORD.findall(_CJK.sub(lambda m: f" {m.group(0)} ", text))]


def holds_sequence(tokens: Sequence[str], seq: Sequence[str]) -> bool:
    """Whether ``seq`` occurs contiguously in ``tokens`` (an exact multi-word term match)."""
    n = len(seq)
    return n > 0 and any(list(tokens[i:i + n]) == list(seq) for i in range(len(tokens) - n + 1))


@dataclass(frozen=True)
class KeywordMatch:
    """What one passage holds of a query: IDF-weighted coverage of its content words, whether it
    holds a code-like term or a rare word exactly, and the query terms it holds."""

    coverage: float
    exact_rare: bool
    terms: tuple[str, ...]


def keyword_match(query: str, passage: str, doc_freq: Mapping[str, int], n_docs: int,
                  rare_share: float, rare_min_docs: int) -> KeywordMatch:
    """Judge a keyword hit by what it holds rather than by BM25's unbounded score."""
    terms = content_terms(query)
    tokens = passage_tokens(passage)
    have = set(tokens)
    matched = tuple(t for t in terms if t in have)
    exact = any(len(seq) > 1 and holds_sequence(tokens, seq) for seq in code_terms(query))
    # A rare word is strong evidence unless the query also names something the library holds
    # nowhere ("a modern clothespin" in a library with no clothespin: "modern" is then incidental).
    unknown = any(doc_freq.get(t, 0) == 0 for t in terms if t not in have)
    exact = exact or (not unknown and any(is_rare(doc_freq.get(t, 0), n_docs, rare_share, rare_min_docs)
                                          and len(t) >= 4 for t in matched))
    return KeywordMatch(weighted_coverage(terms, matched, doc_freq, n_docs), exact, matched)


def best_window(text: str, terms: Sequence[str], chars: int) -> str:
    """The ``chars``-long stretch of ``text`` holding the most query terms (the snippet a reader
    needs), cut at word boundaries, with an ellipsis where text was left out."""
    flat = " ".join(text.split())
    if len(flat) <= chars or not terms:
        return flat if len(flat) <= chars else flat[: chars - 1].rstrip() + "…"
    wanted = set(terms)
    spans = [(m.start(), m.end()) for m in _WORD.finditer(flat) if fold(m.group(0)) in wanted]
    if not spans:
        return flat[: chars - 1].rstrip() + "…"
    best_start, best_n = spans[0][0], 0
    for i, (s, _) in enumerate(spans):
        n = sum(1 for s2, e2 in spans[i:] if e2 - s <= chars - 2)
        if n > best_n:
            best_start, best_n = s, n
    start = max(0, best_start - chars // 4)
    if start > 0:
        space = flat.rfind(" ", 0, start)
        start = space + 1 if space >= 0 else start
    end = min(len(flat), start + chars - 2)
    if end < len(flat):
        space = flat.rfind(" ", start, end)
        end = space if space > best_start else end
    return ("…" if start > 0 else "") + flat[start:end].strip() + ("…" if end < len(flat) else "")


# ----------------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class Logistic:
    """``relevance = 1 / (1 + exp(-(slope * score + bias)))``; ``slope`` > 0 keeps it monotone."""

    slope: float
    bias: float

    def __post_init__(self):
        if not (self.slope > 0 and math.isfinite(self.slope) and math.isfinite(self.bias)):
            raise InvalidInput(f"a calibration needs a positive finite slope and finite bias, got "
                               f"slope={self.slope!r} bias={self.bias!r}")

    def __call__(self, score: float) -> float:
        x = self.slope * float(score) + self.bias
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def fit_logistic(scores: Sequence[float], labels: Sequence[int], l2: float = 1e-3, iters: int = 200) -> Logistic:
    """Maximum-likelihood logistic fit of labels (1 relevant, 0 not) on one raw score (Newton's
    method with a small ridge). A non-positive slope means the score carries no signal: refused."""
    xs = [float(s) for s in scores]
    ys = [int(y) for y in labels]
    if len(xs) != len(ys) or not xs or not 0 < sum(ys) < len(ys):
        raise InvalidInput("fit_logistic: need as many labels as scores, with both classes present")
    mean = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs)) or 1.0
    zs = [(x - mean) / sd for x in xs]
    a, b = 0.0, 0.0
    for _ in range(iters):
        ga = gb = haa = hab = hbb = 0.0
        for z, y in zip(zs, ys):
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, a * z + b))))
            ga += (p - y) * z
            gb += p - y
            w = p * (1 - p)
            haa += w * z * z
            hab += w * z
            hbb += w
        ga += l2 * a
        haa += l2
        hbb += 1e-9
        det = haa * hbb - hab * hab
        if det <= 0:
            break
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        a, b = a - da, b - db
        if abs(da) + abs(db) < 1e-9:
            break
    if a <= 0:
        raise InvalidInput("fit_logistic: the score does not rise with relevance on this data (slope <= 0)")
    return Logistic(slope=a / sd, bias=b - a * mean / sd)


def brier(probs: Sequence[float], labels: Sequence[int]) -> float:
    """Mean squared error of probabilities against 0/1 labels (lower is better calibrated)."""
    return sum((p - y) ** 2 for p, y in zip(probs, labels)) / max(1, len(labels))


@dataclass(frozen=True)
class Calibration:
    """One model's mappings: ``fields`` maps a signal ("visual", "text", "keyword") to a Logistic.

    A vector field with a ``background`` (reference vectors of held-out items) is calibrated on the
    z-score of a similarity against that query's similarities to the background: a query that is
    near everything (a hub) or far from everything (a vague one) is judged by how much an item
    stands out for it, on a scale that does not depend on the library's size or content. The spread
    is floored at the typical held-out query's (``sd_floors``): a query far from every reference
    (out of the references' domain) has a narrow background that would make anything stand out."""

    model: str
    fields: Mapping[str, Logistic]
    backgrounds: Mapping[str, "np.ndarray"] = field(default_factory=dict)
    sd_floors: Mapping[str, float] = field(default_factory=dict)
    source: str = ""

    def mapping(self, name: str, query: "np.ndarray | None" = None) -> Callable[[float], float]:
        """``score -> relevance`` for signal ``name`` and (vector fields) the query vector."""
        m = self.fields.get(name)
        if m is None:
            raise InvalidInput(f"the calibration of {self.model!r} has no mapping for the signal {name!r}")
        ref = self.backgrounds.get(name)
        if ref is None:
            return m
        if query is None:
            raise InvalidInput(f"the {name!r} calibration of {self.model!r} needs the query vector")
        mean, sd = query_background(query, ref)
        sd = max(sd, self.sd_floors.get(name, 0.0))
        return lambda score: m((float(score) - mean) / sd)

    def relevance(self, name: str, score: float, query: "np.ndarray | None" = None) -> float:
        return self.mapping(name, query)(score)

    def to_json(self) -> dict:
        return {"model": self.model,
                "fields": {f: {"slope": m.slope, "bias": m.bias, "feature": "z" if f in self.backgrounds else "raw",
                               **({"sd_floor": self.sd_floors[f]} if f in self.sd_floors else {})}
                           for f, m in self.fields.items()}}


def query_background(query: "np.ndarray", reference: "np.ndarray") -> tuple[float, float]:
    """Mean and spread of a query's similarities to reference vectors (its background)."""
    sims = np.asarray(reference, np.float32) @ np.asarray(query, np.float32).ravel()
    return float(sims.mean()), float(sims.std()) or 1e-6


def zscores(sims: "np.ndarray", sd_floor: float = 0.0) -> "np.ndarray":
    """Rows of query-by-candidate similarities as z-scores against each row's own distribution
    (its spread floored at ``sd_floor``, as at search time)."""
    sims = np.asarray(sims, np.float64)
    sd = np.maximum(sims.std(axis=1, keepdims=True), max(sd_floor, 1e-6))
    return (sims - sims.mean(axis=1, keepdims=True)) / sd


def calibration_path(model: str) -> Path:
    safe = re.sub(r"[^\w.-]+", "_", model)
    return CALIBRATION_DIR / f"{safe}.json"


def load_calibration(model: str, path: Path | None = None) -> Calibration | None:
    """The stored calibration of ``model`` (its JSON, and the ``.npz`` of background vectors beside
    it), or ``None`` when the model has none; a damaged file raises InvalidInput naming it."""
    p = path or calibration_path(model)
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        fields = {f: Logistic(float(v["slope"]), float(v["bias"])) for f, v in data["fields"].items()}
        zfields = [f for f, v in data["fields"].items() if v.get("feature") == "z"]
        backgrounds = {}
        floors = {f: float(v["sd_floor"]) for f, v in data["fields"].items() if "sd_floor" in v}
        if zfields:
            with np.load(p.with_suffix(".npz")) as npz:
                backgrounds = {f: np.asarray(npz[f], np.float32) for f in zfields}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{p}: not a valid relevance calibration ({exc})") from exc
    return Calibration(str(data.get("model", model)), fields, backgrounds, floors, str(p))


# ----------------------------------------------------------------------------- fusion
def prob_or(relevances: Iterable[float]) -> float:
    """P(at least one signal is right), treating signals as independent: 1 - prod(1 - r)."""
    miss = 1.0
    for r in relevances:
        miss *= 1.0 - min(1.0, max(0.0, float(r)))
    return 1.0 - miss


def fuse(signals: Mapping[str, Mapping[str, float]], weights: Mapping[str, float] | None = None
         ) -> list[tuple[str, float]]:
    """``{signal: {item: relevance}}`` -> ``[(item, relevance)]`` best first by probabilistic OR.

    A weight scales a signal's relevance before the OR (OCR text of a picture counts for less
    than its pixels); ties keep first appearance so results are deterministic."""
    per_item: dict[str, list[float]] = {}
    for name, items in signals.items():
        w = 1.0 if weights is None else weights.get(name, 1.0)
        for item, r in items.items():
            per_item.setdefault(item, []).append(w * r)
    fused = [(item, prob_or(rs)) for item, rs in per_item.items()]
    return sorted(fused, key=lambda kv: -kv[1])


# ----------------------------------------------------------------------------- signals of one search
def signal_name(field_name: str, role: str) -> str:
    """The kind of evidence a row gives: its picture (visual), its sound (sound), or text read
    (ocr), heard (speech) or written (text)."""
    if field_name in ("visual", "sound"):
        return field_name
    return role if role in ("ocr", "speech") else "text"


def field_signal(field_name: str, hits: Iterable, mapping: Callable[[float], float], ocr_weight: float
                 ) -> tuple[dict[str, float], dict[str, object]]:
    """One vector field's relevance per item and the row that earned it. An item's rows in one
    space (a transcript and its segments, a document and its chunks) are the same evidence, so its
    best row speaks for all of them; text read off a picture counts ``ocr_weight`` of its match
    (the picture's pixels already vote for it)."""
    relevance: dict[str, float] = {}
    rows: dict[str, object] = {}
    for h in hits:
        role = signal_name(field_name, role_of(h.payload))
        r = mapping(h.score) * (ocr_weight if role == "ocr" else 1.0)
        item = item_of(h.id, h.payload)
        if r > relevance.get(item, -1.0):
            relevance[item], rows[item] = r, h
    return relevance, rows


def keyword_signal(query: str, hits: Iterable, doc_freq: Mapping[str, int], n_docs: int,
                   mapping: Callable[[float], float], rare_relevance: float, rare_share: float,
                   rare_min_docs: int, snippet_chars: int) -> tuple[dict[str, float], dict[str, tuple[object, str]]]:
    """Keyword relevance per item, judged by what its best passage holds (the IDF-weighted share
    of the query's words through ``mapping``; an exact code-like or rare term is worth
    ``rare_relevance``), with the stretch of that passage that holds the words. ``hits`` are
    :class:`~xmodal.ingest.keywords.KeywordHit`; returns ``{item: relevance}``, ``{item: (hit, snippet)}``."""
    relevance: dict[str, float] = {}
    rows: dict[str, tuple[object, str]] = {}
    for h in hits:
        m = keyword_match(query, h.text, doc_freq, n_docs, rare_share, rare_min_docs)
        r = max(mapping(m.coverage), rare_relevance if m.exact_rare else 0.0)
        if r > relevance.get(h.item_id, -1.0):
            relevance[h.item_id] = r
            rows[h.item_id] = (h, best_window(h.text, m.terms, snippet_chars))
    return relevance, rows


def evidence_order(signals: Mapping[str, Mapping[str, float]], item: str, kind: str) -> list[tuple[float, str]]:
    """The signals that matched ``item`` as ``(relevance, name)``, in the order its evidence is
    quoted: the strongest first, except that a video leads with its frame when the picture matched
    well (a frame's time is exact, a speech segment spans seconds), and a text match leads with the
    keyword passage (the one that holds the query's words)."""
    matched = sorted(((sig[item], n) for n, sig in signals.items() if item in sig), reverse=True)
    if not matched:
        return matched
    top = matched[0][0]
    if kind == "video" and signals.get("visual", {}).get(item, 0.0) >= 0.5 * top:
        matched.sort(key=lambda m: m[1] != "visual")
    elif item in signals.get(KEYWORD, {}) and matched[0][1] != "visual":
        matched.sort(key=lambda m: m[1] != KEYWORD)
    return matched


# ----------------------------------------------------------------------------- query language
def non_latin_share(text: str) -> float:
    """Share of the letters written in a non-Latin script (CJK, Cyrillic, Greek, Arabic ...)."""
    letters = [c for c in text if c.isalpha()]
    return sum(1 for c in letters if _NON_LATIN.match(c)) / len(letters) if letters else 0.0


def model_reads_only_english(model: str) -> bool:
    return model.startswith(ENGLISH_ONLY_PREFIXES) and "multilingual" not in model


def language_warning(query: str, model: str, threshold: float = 0.3) -> str | None:
    """A sentence for the user when ``model`` reads English only and the query is not in a Latin
    script (its results would be noise); ``None`` when the model can read the query."""
    if not model_reads_only_english(model) or non_latin_share(query) <= threshold:
        return None
    return (f"the library's model {model!r} reads English only, and this query is not in English: results "
            f"are likely noise. Re-index with --model {MULTILINGUAL_MODEL} to search in other languages.")


# ----------------------------------------------------------------------------- ranked lists (fusion="rrf")
# Reciprocal-rank fusion (image queries, similar(), models without a calibration) fuses ranked lists
# of items: per vector field the rows that stand out (``<source>-><field>``), the field's OCR rows
# in a lighter list (``...:ocr``), the whole field as a faint backfill (``...~all``), and keywords.
KEYWORD_LIST = KEYWORD  # the keyword list / signal
BACKFILL = "~all"  # suffix of the unfloored twin of a vector list
OCR_LIST = ":ocr"  # suffix of the list of OCR rows of a text field


def floor(scores: Sequence[float], z: float) -> float:
    """mean + z * std of a field's nearest-row similarities (-inf when too few to judge): only rows
    standing out among the field's neighbours vote."""
    if len(scores) < 3:
        return float("-inf")
    arr = np.asarray(scores, np.float64)
    return float(arr.mean() + z * arr.std())


def vector_lists(source: str, raw: Mapping[str, Sequence], floors: Mapping[str, float]) -> dict[str, list]:
    """The named lists of hits one query gives over the vector fields (``raw``: each field's hits,
    best first; ``floors``: each field's vote floor). Text read off a picture is a second voice for
    an image that already votes with its pixels: it gets its own, lighter list; the whole lists vote
    too, with a small weight, to order the items no field vouched for (a query still gets k results)."""
    lists: dict[str, list] = {}
    for f, hits in raw.items():
        lists[f"{source}->{f}"] = [h for h in hits if h.score >= floors[f] and role_of(h.payload) != "ocr"]
        ocr_hits = [h for h in hits if h.score >= floors[f] and role_of(h.payload) == "ocr"]
        if ocr_hits:
            lists[f"{source}->{f}{OCR_LIST}"] = ocr_hits
    lists.update({f"{source}->{f}{BACKFILL}": list(hits) for f, hits in raw.items()})
    return lists


def list_signals(names: Iterable[str], rows: Mapping[str, Mapping[str, Any]], item: str) -> dict[str, float]:
    """Which kinds of evidence vouched for ``item`` among the ranked lists ``names`` (visual, text,
    ocr, speech, sound, keyword), each with its raw strength: the row's similarity clipped to
    [0, 1], for keywords the share of the list's best score. An item only the backfill found (its
    similarity did not stand out) still names the field that brought it. RRF's results then say, as
    the calibrated ones do, why they are there."""
    out: dict[str, float] = {}
    for name in names:
        if item not in rows.get(name, {}):
            continue
        hit = rows[name][item]
        if name == KEYWORD_LIST:
            best = max((h.score for h in rows[name].values()), default=0.0)
            strength = hit.score / best if best > 0 else 0.0
            sig = KEYWORD_LIST
        else:
            field_name = name.split("->", 1)[-1].removesuffix(BACKFILL).removesuffix(OCR_LIST)
            sig, strength = signal_name(field_name, role_of(hit.payload)), hit.score
        out.setdefault(sig, round(min(1.0, max(0.0, float(strength))), 4))
    return out


def best_rows(lists: Mapping[str, Sequence]) -> tuple[dict[str, list[str]], dict[str, dict]]:
    """Each list as a ranking of items (each keeping its best row), and those rows."""
    rankings: dict[str, list[str]] = {}
    rows: dict[str, dict] = {}
    for name, hits in lists.items():
        best: dict = {}
        for h in hits:
            best.setdefault(item_of(h.id, h.payload), h)
        rankings[name] = list(best)
        rows[name] = best
    return rankings, rows


def list_weight(name: str, keyword_weight: float, backfill_weight: float, ocr_weight: float) -> float:
    """A list's weight in the fusion: vector fields 1, keywords, OCR rows and backfills as configured."""
    if name == KEYWORD_LIST:
        return keyword_weight
    if name.endswith(BACKFILL):
        return backfill_weight
    return ocr_weight if name.endswith(OCR_LIST) else 1.0


def list_preference(name: str) -> int:
    """On equal ranks, quote image evidence first (a frame's time is exact), then passages, then keywords."""
    order = 3 if name.endswith(BACKFILL) else 0
    name = name.removesuffix(BACKFILL).removesuffix(OCR_LIST)
    if name.endswith("->visual"):
        return order
    return order + (2 if name == KEYWORD_LIST else 1)


def same_moment(evidence: Mapping, row: Mapping, frame_interval_s: float) -> bool:
    """Whether a row's text can be quoted for the evidence's moment: either has no time, or the
    row's span (time..end, or its frame interval) covers the evidence's time."""
    t, at = row.get("time"), evidence.get("time")
    if t is None or at is None:
        return True
    end = row.get("end")
    end = end if end is not None else t + frame_interval_s
    return t - frame_interval_s / 2 <= at <= end


def evidence(matches: Sequence[tuple[str, object]], frame_interval_s: float) -> tuple[dict, dict]:
    """Evidence from the best-ranked list's row, completed by other lists' rows that agree with it
    (same time, or no time), plus each list's raw score. ``matches``: ``(list name, hit)`` best first."""
    found: dict = {}
    scores: dict = {}
    for name, hit in matches:
        scores.setdefault(name.removesuffix(BACKFILL).removesuffix(OCR_LIST), round(float(hit.score), 6))
    for i, (name, hit) in enumerate(matches):
        p = hit.payload or {}
        t = p.get("time")
        if i == 0:
            found["match"] = "keyword" if name == KEYWORD_LIST else role_of(p).value
            for key in ("time", "end", "text"):
                if p.get(key) not in (None, ""):
                    found[key] = p[key]
        elif "text" not in found and p.get("text") and same_moment(found, p, frame_interval_s):
            found["text"] = p["text"]
            if t is not None and "time" not in found:
                found["time"] = t
    return found, scores
