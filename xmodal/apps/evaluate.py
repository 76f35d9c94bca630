"""Evaluation harnesses for question answering and recommendation (numbers in BENCHMARKS.md).

Public API::

    evaluate_qa(lib, questions)  -> {"overall": {...}, "by_modality": {...}, "not_found": {...}, "rows": [...]}
    evaluate_recommender(lib, item_categories, spec=SimulationSpec(), k=10)
        -> {"popularity": {...}, "nearest_neighbour": {...}, "hybrid": {...}, "mmr": {...}}

A QA question is a dict ``{"question", "path" (expected file, or null for unanswerable),
"modality", optional "text" (a fragment the evidence text must contain), optional "time"
(seconds that the evidence span must cover, with ``time_tolerance``)}``. Evidence is
"answer-bearing" when it comes from the expected file and, where given, holds the fragment and
covers the time. The recommender is scored by leave-last-out on a simulated log: hit-rate@k and
NDCG@k of the held-out like, intra-list diversity and the share of recommendations in the
user's preferred categories, against a popularity baseline and plain nearest neighbours.
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from xmodal.apps.answers import ANSWER_FEATURES, answer_confidence, wants_picture
from xmodal.apps.diversity import intra_list_diversity
from xmodal.apps.qa import Evidence, ask
from xmodal.apps.recommend import interactions, recommend
from xmodal.apps.simulate import SimulationSpec, leave_last_out, simulate_log
from xmodal.config import AppsConfig
from xmodal.errors import InvalidInput
from xmodal.ingest.ranking import fit_logistic
from xmodal.progress import progress

__all__ = ["TIME_TOLERANCE_S", "answer_bearing", "evaluate_qa", "summarise_qa", "rank_metrics",
           "evaluate_recommender", "is_path_answer", "judge_answers", "answer_outcome", "answer_report",
           "fit_answer_threshold", "reliability", "fit_answer_rescaling", "fit_answer_confidence",
           "validation_rows", "CONFIDENCE_L2_GRID", "model_confidences", "loo_brier"]

TIME_TOLERANCE_S = 1.5


def _path_matches(evidence_path: str, expected: str) -> bool:
    return evidence_path == expected or evidence_path.endswith("/" + expected.lstrip("/"))


def answer_bearing(e: Evidence, q: Mapping[str, Any]) -> bool:
    """Whether one evidence unit supports the expected answer of question ``q`` (``path``: one file or
    a list of equally right files)."""
    expected = q.get("path")
    if not expected:
        return False
    if not any(_path_matches(e.path, p) for p in ([expected] if isinstance(expected, str) else expected)):
        return False
    fragment = q.get("text")
    if fragment and (e.text is None or fragment.lower() not in e.text.lower()):
        return False
    t = q.get("time")
    if t is not None:
        if e.time is None:
            return False
        end = e.end if e.end is not None else e.time
        if not (e.time - TIME_TOLERANCE_S <= t <= end + TIME_TOLERANCE_S):
            return False
    return True


def evaluate_qa(lib, questions: Sequence[Mapping[str, Any]], show_progress: bool | None = None,
                settings: AppsConfig | None = None) -> dict:
    """Top-1 / top-3 answer-bearing evidence by modality, and not-found accuracy on unanswerable questions
    (``settings``: those :func:`~xmodal.apps.qa.ask` answers by, default the library's)."""
    rows = []
    with progress(show_progress) as bar:
        task = bar.add_task("qa eval", total=len(questions))
        for q in questions:
            ans = ask(lib, q["question"], image=q.get("image"), k=3, llm=None, settings=settings)
            ranks = [i for i, e in enumerate(ans.evidence, 1) if answer_bearing(e, q)]
            rows.append({"question": q["question"], "modality": q.get("modality", "none"),
                         "answerable": bool(q.get("path")), "rank": ranks[0] if ranks else None,
                         "found": ans.found, "confidence": round(ans.confidence, 4),
                         "top": ans.evidence[0].to_dict() if ans.evidence else None})
            bar.advance(task)
    return summarise_qa(rows)


def summarise_qa(rows: Sequence[Mapping[str, Any]]) -> dict:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]

    def stats(rs: Sequence[Mapping[str, Any]]) -> dict:
        n = len(rs)
        top1 = sum(1 for r in rs if r["rank"] == 1)
        top3 = sum(1 for r in rs if r["rank"] is not None and r["rank"] <= 3)
        answered_right = sum(1 for r in rs if r["found"] and r["rank"] == 1)
        return {"questions": n, "top1": round(top1 / n, 3) if n else None,
                "top3": round(top3 / n, 3) if n else None,
                "answered_and_right": round(answered_right / n, 3) if n else None,
                "said_not_found": round(sum(1 for r in rs if not r["found"]) / n, 3) if n else None}

    by_mod: dict[str, list] = defaultdict(list)
    for r in answerable:
        by_mod[r["modality"]].append(r)
    nf = len(unanswerable)
    # Calibration: confidence as a forecast that the top evidence bears the answer (0 for unanswerable).
    outcomes = [(r["confidence"], 1.0 if r["rank"] == 1 else 0.0) for r in rows if "confidence" in r]
    brier = float(np.mean([(p - y) ** 2 for p, y in outcomes])) if outcomes else None
    return {
        "calibration": {"brier": round(brier, 4) if brier is not None else None,
                        "mean_confidence_when_right": _mean([p for p, y in outcomes if y == 1.0]),
                        "mean_confidence_when_wrong": _mean([p for p, y in outcomes if y == 0.0])},
        "overall": stats(answerable),
        "by_modality": {m: stats(rs) for m, rs in sorted(by_mod.items())},
        "not_found": {"questions": nf,
                      "correctly_not_found": round(sum(1 for r in unanswerable if not r["found"]) / nf, 3)
                      if nf else None},
        "rows": list(rows),
    }


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def rank_metrics(ranked: Sequence[str], target: str, k: int) -> tuple[float, float]:
    """(hit, NDCG) of one held-out item in a ranked list cut at ``k``; one relevant item, so IDCG = 1."""
    top = list(ranked[:k])
    if target not in top:
        return 0.0, 0.0
    return 1.0, 1.0 / math.log2(top.index(target) + 2)


def _popularity_lists(train: Iterable, held: Mapping[str, str], k: int) -> dict[str, list[str]]:
    counts: Counter[str] = Counter(e.item for e in train if e.event in ("like", "view", "save"))
    seen: dict[str, set[str]] = defaultdict(set)
    for e in train:
        seen[e.user].add(e.item)
    ranked = [p for p, _ in counts.most_common()]
    return {u: [p for p in ranked if p not in seen[u]][:k] for u in held}


def evaluate_recommender(lib, item_categories: Mapping[str, str], spec: SimulationSpec = SimulationSpec(),
                         k: int = 10, diversity: float | None = None, kinds: Sequence[str] | None = None,
                         show_progress: bool | None = None, settings: AppsConfig | None = None) -> dict:
    """Leave-last-out hit-rate@k / NDCG@k / intra-list diversity for popularity, content nearest
    neighbours, the hybrid (content + co-likes) and the hybrid re-ranked by MMR (the default), under
    ``settings`` (the ``rec_*`` numbers; default the library's)."""
    users, events = simulate_log(item_categories, spec)
    train, held = leave_last_out(events)
    store = interactions(lib, settings)
    for u in users:
        store.forget(u.name)
    paths = sorted({e.item for e in events})
    vectors = lib.item_vectors(paths)  # NotFound for a path the library lacks
    kind_of = {p: it.kind for p, it in lib.items(paths).items()}
    with progress(show_progress) as bar:
        task = bar.add_task("log", total=len(train))
        for e in train:
            store.record(e.user, e.item, e.event, vectors[e.item], item_kind=kind_of[e.item], ts=e.ts)
            bar.advance(task)
        now = max(e.ts for e in events)
        lists: dict[str, dict[str, list[str]]] = {"popularity": _popularity_lists(train, held, k)}
        task = bar.add_task("recommend", total=len(held))
        variants = {"nearest_neighbour": dict(diversity=0.0, collaborative=0.0),   # content only, no MMR
                    "hybrid": dict(diversity=0.0, collaborative=None),              # + co-likes, no MMR
                    "mmr": dict(diversity=diversity, collaborative=None)}           # the default
        for name in variants:
            lists[name] = {}
        for u in held:
            for name, opts in variants.items():
                lists[name][u] = [r.path for r in recommend(lib, u, k, kinds=kinds, now=now, settings=settings, **opts)]
            bar.advance(task)
    prefs = {u.name: set(u.categories) for u in users}
    all_vecs = lib.item_vectors(sorted({p for m in lists.values() for l in m.values() for p in l}))
    out: dict[str, Any] = {"users": len(held), "items": len(item_categories), "events": len(events), "k": k}
    for method, per_user in lists.items():
        hits, ndcgs, ilds, in_pref, cats = [], [], [], [], []
        for u, recs in per_user.items():
            h, n = rank_metrics(recs, held[u], k)
            hits.append(h)
            ndcgs.append(n)
            if len(recs) >= 2:
                ilds.append(intra_list_diversity(np.stack([all_vecs[p] for p in recs])))
            if recs:
                in_pref.append(np.mean([item_categories.get(p) in prefs[u] for p in recs]))
                cats.append(len({item_categories.get(p) for p in recs}))
        hr = float(np.mean(hits))
        out[method] = {f"hit_rate@{k}": round(hr, 4), "hit_rate_stderr": round(math.sqrt(hr * (1 - hr) / len(hits)), 4),
                       f"ndcg@{k}": round(float(np.mean(ndcgs)), 4),
                       "intra_list_diversity": round(float(np.mean(ilds)), 4) if ilds else 0.0,
                       "preferred_category_share": round(float(np.mean(in_pref)), 4) if in_pref else 0.0,
                       "distinct_categories": round(float(np.mean(cats)), 2) if cats else 0.0}
    return out


# ----------------------------------------------------------------------------- answers, judged
_PATH_ANSWER = re.compile(r"^\s*(?:[~.]?/|[A-Za-z]:\\)?[\w.-]+(?:[/\\][\w.-]+)+\.?\w*\s*$")


def is_path_answer(answer: str | None) -> bool:
    """Whether an answer (its ``[n]`` markers removed) is nothing but a file path: never an answer."""
    if not answer:
        return False
    text = re.sub(r"\s*\[\d+\]", " ", answer).strip()
    return bool(_PATH_ANSWER.match(text)) or (text.startswith("/") and " " not in text)


def judge_answers(lib, questions: Sequence[Mapping[str, Any]], show_progress: bool | None = None,
                  settings: AppsConfig | None = None) -> list[dict]:
    """Ask every question and return one row per question: the best text unit's confidence (the
    answer's, when it clears the threshold), whether that unit bears the expected answer
    (``lead_right``), whether the top evidence does (``top_right``), the extractive answer under the
    configured threshold, and whether the best text unit is a bare path (``path_answer``).

    A question's ``expect`` is ``answer`` (a text answer exists), ``abstain`` (nothing answers it)
    or ``evidence`` (a request for a picture or a moment of a video: the right behaviour is no text
    answer, with that file as top evidence). Abstention is applied afterwards (:func:`answer_report`),
    so a threshold can be chosen on one half of the questions and reported on the other. ``settings``:
    those :func:`~xmodal.apps.qa.ask` answers by (default the library's)."""
    rows = []
    with progress(show_progress) as bar:
        task = bar.add_task("qa", total=len(questions))
        for q in questions:
            ans = ask(lib, q["question"], image=q.get("image"), k=5, llm=None, settings=settings)
            # The best text unit: the answer when it clears the threshold (its score is the confidence).
            lead = next((e for e in ans.evidence if e.text), None)
            expect = q.get("expect") or ("answer" if q.get("path") else "abstain")
            rows.append({"question": q["question"], "expect": expect, "modality": q.get("modality", "none"),
                         "split": q.get("split"), "confidence": round(ans.confidence, 5),
                         "text_wanted": not wants_picture(q["question"]),
                         "lead_right": bool(lead is not None and answer_bearing(lead, q)),
                         "top_right": bool(ans.evidence and answer_bearing(ans.evidence[0], q)),
                         "top_source": ans.evidence[0].source if ans.evidence else None,
                         "answer": ans.answer, "path_answer": is_path_answer(lead.text if lead else None),
                         "lead": lead.to_dict() if lead is not None else None,
                         "features": {k: round(v, 6) for k, v in ans.features.items()}})
            bar.advance(task)
    return rows


def answer_outcome(row: Mapping[str, Any]) -> float:
    """What the confidence forecasts: 1 when the lead text unit is a right answer, else 0."""
    return 1.0 if row["expect"] == "answer" and row["lead_right"] else 0.0


def answer_report(rows: Sequence[Mapping[str, Any]], threshold: float,
                  rescale: Callable[[float], float] = lambda p: p) -> dict:
    """Top-1 accuracy on answerable questions (answered, and the answer bears it), abstention on
    unanswerable ones, picture / moment requests (no text answer, that file first), path answers,
    and the Brier score of the (rescaled) confidence against :func:`answer_outcome`."""
    def conf(r):
        return rescale(r["confidence"])

    ans = [r for r in rows if r["expect"] == "answer"]
    none = [r for r in rows if r["expect"] == "abstain"]
    ev = [r for r in rows if r["expect"] == "evidence"]
    judged = ans + none
    probs = [conf(r) for r in judged]
    ys = [answer_outcome(r) for r in judged]
    right = [conf(r) >= threshold and r["lead_right"] for r in ans]
    by_mod: dict[str, list] = defaultdict(list)
    for r, ok in zip(ans, right):
        by_mod[r["modality"]].append(ok)
    return {"threshold": round(threshold, 4),
            "answerable": len(ans), "accuracy": _ratio(sum(right), len(ans)),
            "accuracy_by_modality": {m: {"questions": len(v), "accuracy": _ratio(sum(v), len(v))}
                                     for m, v in sorted(by_mod.items())},
            "unanswerable": len(none), "abstained": _ratio(sum(conf(r) < threshold for r in none), len(none)),
            "evidence_requests": len(ev),
            # A request to be shown a thing gets no text answer whatever the confidence (ask's rule).
            "evidence_right": _ratio(sum(r["top_right"] and (not r.get("text_wanted", True) or conf(r) < threshold)
                                         for r in ev), len(ev)),
            "path_answers": sum(bool(r["path_answer"]) and conf(r) >= threshold and r.get("text_wanted", True)
                                for r in rows),
            "brier": round(float(np.mean([(p - y) ** 2 for p, y in zip(probs, ys)])), 4) if ys else None}


def _ratio(a: float, b: int) -> float | None:
    return round(a / b, 3) if b else None


def fit_answer_threshold(rows: Sequence[Mapping[str, Any]], min_abstain: float = 0.9,
                         rescale: Callable[[float], float] = lambda p: p) -> float:
    """The abstention threshold that answers the most answerable questions rightly while at least
    ``min_abstain`` of the unanswerable ones abstain (on these rows; the lowest such threshold, for
    ties the midpoint to the next confidence). With no threshold meeting that share, the one with
    the best mean of the two rates."""
    confs = sorted({round(rescale(r["confidence"]), 6) for r in rows} | {0.0, 1.0})
    candidates = [(a + b) / 2 for a, b in zip(confs, confs[1:])] or [0.5]
    best, best_key = candidates[0], None
    for t in candidates:
        rep = answer_report(rows, t, rescale)
        acc, abst = rep["accuracy"] or 0.0, rep["abstained"] if rep["abstained"] is not None else 1.0
        key = (abst >= min_abstain, acc if abst >= min_abstain else (acc + abst) / 2, -t)
        if best_key is None or key > best_key:
            best, best_key = t, key
    return best


def reliability(probs: Sequence[float], outcomes: Sequence[float], bins: int = 10) -> list[dict]:
    """Reliability table: per confidence bin, how many forecasts, their mean, and how often right."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    p, y = np.asarray(probs, float), np.asarray(outcomes, float)
    out = []
    for i in range(bins):
        m = (p >= edges[i]) & ((p < edges[i + 1]) if i < bins - 1 else (p <= 1.0))
        if m.any():
            out.append({"lo": round(float(edges[i]), 2), "hi": round(float(edges[i + 1]), 2), "n": int(m.sum()),
                        "mean_confidence": round(float(p[m].mean()), 4), "observed": round(float(y[m].mean()), 4)})
    return out


def fit_answer_rescaling(rows: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """``(slope, bias)`` of a logistic on the logit of the confidence, fitted to :func:`answer_outcome`
    on these rows (``qa_conf_platt_slope`` / ``qa_conf_platt_bias`` when the confidence was collected
    with the identity rescaling)."""
    judged = [r for r in rows if r["expect"] in ("answer", "abstain")]
    fit = fit_logistic([_logit(r["confidence"]) for r in judged], [int(answer_outcome(r)) for r in judged])
    return fit.slope, fit.bias


def _logit(p: float) -> float:
    p = min(1.0 - 1e-6, max(1e-6, float(p)))
    return math.log(p / (1.0 - p))


# Ridge strengths tried for the answer-confidence model (on standardised features; chosen by
# leave-one-out Brier on the rows it is fitted on: about 50 questions call for strong ones).
CONFIDENCE_L2_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)


def validation_rows(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The judged rows of the validation half (``split == "val"``): the only ones anything is fitted
    or chosen on. Refused when there are none, so a fit never silently uses every question."""
    val = [r for r in rows if r.get("split") == "val"]
    if not val:
        raise InvalidInput("no validation rows (split == 'val') to fit on")
    return val


def _ridge_logistic(x: np.ndarray, y: np.ndarray, l2: float, iters: int = 100) -> np.ndarray:
    """Weights (intercept last) of a logistic regression with an L2 penalty on all but the
    intercept, by Newton's method."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    pen = np.full(xb.shape[1], l2)
    pen[-1] = 1e-6
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (p - y) + pen * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(pen)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def fit_answer_confidence(rows: Sequence[Mapping[str, Any]], features: Sequence[str] = ANSWER_FEATURES,
                          l2: float | None = None) -> tuple[tuple[tuple[str, float], ...], float]:
    """The answer-confidence model (``qa_conf_model``: ``(("bias", b), (feature, w), ...)`` in the
    features' own units) fitted to :func:`answer_outcome` on ``rows`` with ``features`` (picture
    requests count: their best text unit is not the answer), and the ridge strength used: ``l2``
    or, when None, the one of ``CONFIDENCE_L2_GRID`` with the lowest leave-one-out Brier score on
    these rows. Features are standardised before the penalty, so one strength fits all.

    Every feature is built so that more means likelier right; about 50 questions cannot overturn
    that, so a feature whose weight comes out negative is dropped (weight 0) and the rest refitted
    -- a confidence that rose as the sentence read worse would be fitted noise. Pass the
    validation half only (:func:`validation_rows`)."""
    judged = [r for r in rows if r.get("features")]
    ys = np.array([answer_outcome(r) for r in judged])
    if len(judged) < 4 or not 0 < ys.sum() < len(ys):
        raise InvalidInput("fit_answer_confidence: need rows with features and both outcomes")
    for r in judged:
        missing = [f for f in features if f not in r["features"]]
        if missing:
            raise InvalidInput(f"fit_answer_confidence: question {r.get('question')!r} lacks features {missing}")
    x = np.array([[float(r["features"][f]) for f in features] for r in judged])
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd < 1e-9] = 1.0  # a constant feature (no transcript in these rows) gets no weight
    z = (x - mean) / sd

    def fit(zz: np.ndarray, yy: np.ndarray, lam: float) -> np.ndarray:
        active = np.ones(zz.shape[1], bool)
        while True:
            w = np.zeros(zz.shape[1] + 1)
            w[np.append(active, True)] = _ridge_logistic(zz[:, active], yy, lam)
            if (w[:-1] >= 0).all():
                return w
            active &= w[:-1] > 0

    if l2 is None:
        def loo_brier(lam: float) -> float:
            errs = []
            for i in range(len(z)):
                keep = np.arange(len(z)) != i
                w = fit(z[keep], ys[keep], lam)
                p = 1.0 / (1.0 + np.exp(-np.clip(z[i] @ w[:-1] + w[-1], -30, 30)))
                errs.append((p - ys[i]) ** 2)
            return float(np.mean(errs))
        l2 = min(CONFIDENCE_L2_GRID, key=loo_brier)
    w = fit(z, ys, l2)
    weights = w[:-1] / sd
    bias = float(w[-1] - (weights * mean).sum())
    model = (("bias", round(bias, 4)),) + tuple((f, round(float(v), 4)) for f, v in zip(features, weights) if v > 0)
    return model, float(l2)


def model_confidences(rows: Sequence[Mapping[str, Any]], model: Sequence[tuple[str, float]]) -> list[dict]:
    """``rows`` with ``confidence`` recomputed by ``model`` from each row's ``features`` (a row with
    none -- no text unit -- keeps 0)."""
    return [{**r, "confidence": answer_confidence(r["features"], model) if r.get("features") else 0.0}
            for r in rows]


def loo_brier(rows: Sequence[Mapping[str, Any]], features: Sequence[str], l2: float | None) -> float:
    """Leave-one-out Brier score of :func:`fit_answer_confidence` (these ``features``, ridge ``l2``;
    None: chosen again inside each fold, so the choice of the ridge is held out too) on ``rows``
    with features: each row forecast by the model fitted on the others. How a richer model is
    judged against a simpler one on the validation half alone -- the in-sample Brier of many
    weights fitted to ~100 questions flatters it, and so does the best of a grid of ridges."""
    judged = [r for r in rows if r.get("features")]
    errs = []
    for i, r in enumerate(judged):
        model, _ = fit_answer_confidence(judged[:i] + judged[i + 1:], features=features, l2=l2)
        errs.append((model_confidences([r], model)[0]["confidence"] - answer_outcome(r)) ** 2)
    return float(np.mean(errs))
