"""Keyword scoring of evidence units: BM25 and query-term coverage.

Dense similarity alone misses exact names, numbers and codes ("room 4B", "order 7731") that a
question hinges on; the keyword half of the sentence score catches them. Scores are normalised
into [0, 1] so they mix with cosine similarities without per-corpus tuning.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from typing import Sequence

from xmodal.config import AppsConfig

__all__ = ["STOPWORDS", "tokenize", "coverage", "rare_coverage", "bm25_scores", "keyword_scores"]

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
STOPWORDS = frozenset("""
a an and are as at be been being but by can could did do does doing for from had has have having he her
here hers him his how i if in into is it its itself just me my no nor not of off on once only or other
our ours out over own same she should so some such than that the their theirs them then there these
they this those through to too under until up very was we were what when where which while who whom
why will with would you your yours about above after again against all am any because before below
between both down during each few further more most much must shall tell say said show find
video videos recording recordings audio clip image images picture pictures photo photos document file
""".split())  # the last line: words naming the container, which a question uses but the evidence never says


def _stem(word: str) -> str:
    """A light suffix fold, enough for 'dogs' / 'mixed' / 'baking' to meet 'dog' / 'mix' / 'bake'
    without a stemmer package. Both sides go through it, so crude stems ('bak') still match."""
    for suffix in ("'s", "’s"):
        if word.endswith(suffix):
            word = word[: -len(suffix)]
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("es") and word[-3] in "sxz":
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) > 4 and word.endswith("ed"):
        word = word[:-2]
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def tokenize(text: str, keep_stopwords: bool = False) -> list[str]:
    """Lower-cased, NFKC-normalised terms; CJK text yields one term per character (no spaces there)."""
    folded = unicodedata.normalize("NFKC", text).lower()
    terms: list[str] = []
    for m in _WORD.finditer(folded):
        word = m.group(0)
        if _CJK.search(word):
            terms.extend(ch for ch in word if not ch.isspace())
            continue
        if not keep_stopwords and word in STOPWORDS:
            continue
        terms.append(_stem(word))
    return terms


def coverage(query_terms: Sequence[str], doc_terms: Sequence[str]) -> float:
    """Share of the distinct query terms that the unit contains: the keyword evidence a reader sees."""
    wanted = set(query_terms)
    if not wanted:
        return 0.0
    return len(wanted & set(doc_terms)) / len(wanted)


def rare_coverage(query_terms: Sequence[str], docs_terms: Sequence[Sequence[str]]) -> list[float]:
    """Share of the question's rarity each unit holds, in [0, 1]: every distinct query term weighs
    its idf over these candidate units, so a term that no candidate holds ("cost" in "how much does
    parking cost per hour", asked of a folder whose sign only says how long one may park) weighs
    most, and a unit holding only the question's common words covers little of it. Where
    :func:`coverage` counts the question's words, this counts what they tell apart."""
    n = len(docs_terms)
    wanted = list(dict.fromkeys(query_terms))
    if not wanted or n == 0:
        return [0.0] * n
    sets = [set(d) for d in docs_terms]
    idf = {t: math.log((n + 1) / (sum(t in d for d in sets) + 0.5)) for t in wanted}
    total = sum(idf.values())
    return [sum(w for t, w in idf.items() if t in d) / total for d in sets]


def bm25_scores(query_terms: Sequence[str], docs_terms: Sequence[Sequence[str]],
                k1: float = AppsConfig.bm25_k1, b: float = AppsConfig.bm25_b) -> list[float]:
    """Okapi BM25 of one query against a small candidate set (idf taken over that set); ``k1`` term
    frequency saturation, ``b`` length normalisation (``AppsConfig.bm25_*``)."""
    n = len(docs_terms)
    if n == 0:
        return []
    avg_len = sum(len(d) for d in docs_terms) / n or 1.0
    df: Counter[str] = Counter()
    for d in docs_terms:
        df.update(set(d))
    qset = list(dict.fromkeys(query_terms))
    scores: list[float] = []
    for d in docs_terms:
        tf = Counter(d)
        s = 0.0
        for t in qset:
            f = tf.get(t, 0)
            if not f:
                continue
            idf = math.log(1.0 + (n - df[t] + 0.5) / (df[t] + 0.5))
            s += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len(d) / avg_len))
        scores.append(s)
    return scores


def keyword_scores(query: str, texts: Sequence[str], contexts: Sequence[str] | None = None,
                   k1: float = AppsConfig.bm25_k1, b: float = AppsConfig.bm25_b) -> list[float]:
    """Keyword relevance of each text in [0, 1]: BM25 scaled by the best, times term coverage.

    BM25 ranks within the set; coverage keeps the absolute meaning (a best-of-set unit that
    shares one incidental word with the question must not score 1.0). ``contexts`` (e.g. each
    unit's file name, "city tour") add terms a question may use to point at the source. ``k1``,
    ``b``: BM25's (:func:`bm25_scores`).
    """
    q = tokenize(query)
    docs = [tokenize(t) + (tokenize(c) if contexts else []) for t, c in zip(texts, contexts or texts)]
    raw = bm25_scores(q, docs, k1, b)
    top = max(raw, default=0.0)
    if top <= 0:
        return [0.0] * len(texts)
    return [(r / top) * coverage(q, d) for r, d in zip(raw, docs)]
