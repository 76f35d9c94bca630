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
from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from xmodal.apps.diversity import intra_list_diversity
from xmodal.apps.qa import Evidence, ask
from xmodal.apps.recommend import interactions, recommend
from xmodal.apps.simulate import SimulationSpec, leave_last_out, simulate_log
from xmodal.progress import progress

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


def evaluate_qa(lib, questions: Sequence[Mapping[str, Any]], show_progress: bool | None = None) -> dict:
    """Top-1 / top-3 answer-bearing evidence by modality, and not-found accuracy on unanswerable questions."""
    rows = []
    with progress(show_progress) as bar:
        task = bar.add_task("qa eval", total=len(questions))
        for q in questions:
            ans = ask(lib, q["question"], image=q.get("image"), k=3, llm=None)
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
                         show_progress: bool | None = None) -> dict:
    """Leave-last-out hit-rate@k / NDCG@k / intra-list diversity for popularity, content nearest
    neighbours, the hybrid (content + co-likes) and the hybrid re-ranked by MMR (the default)."""
    users, events = simulate_log(item_categories, spec)
    train, held = leave_last_out(events)
    store = interactions(lib)
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
                lists[name][u] = [r.path for r in recommend(lib, u, k, kinds=kinds, now=now, **opts)]
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
