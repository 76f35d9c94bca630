"""Recommendation on the shared space: "more like this" and per-user recommendations.

Public API (pure functions over a :class:`xmodal.ingest.library.Library`; the CLI and the server call these)::

    from xmodal.apps.recommend import more_like_this, recommend, record_interaction, interactions
    more_like_this(lib, "photos/cat.jpg", k=10, across_kinds=False, kinds=None, where=None, diversity=None)
    record_interaction(lib, user="ana", item="photos/cat.jpg", event="like")   # like|save|click|view|skip|dislike
    recommend(lib, "ana", k=10, kinds=["image"], where={"size": {"$lt": 5_000_000}}, exclude_seen=True,
              diversity=None, collaborative=None)
    interactions(lib).history("ana") ; interactions(lib).forget("ana")
    -> list[Recommendation(path, kind, score, because, payload)]

How a user's list is made: the profile (decayed sum of liked item vectors, see
:mod:`xmodal.apps.profile`) and the most recent liked items each query the vector index for
candidates -- several queries, because a user who likes both birds and boats has a mean vector that
sits between the two and near neither. Each candidate's relevance mixes its similarity to the
profile with its best similarity to a recent liked item, minus a penalty for resembling disliked
items, and raised by how often other users liked it together with this user's likes (item-based
collaborative filtering, ``collaborative`` weight); maximal marginal relevance then picks the final
list (``diversity`` = 1 - MMR lambda). A user with no likes gets the most popular items, minus what
they have seen.

Every function takes ``settings`` (an :class:`xmodal.config.AppsConfig`, its ``rec_*`` fields); with
a library the default is the library's own (``lib.settings.apps``), so a library opened with other
settings recommends by them, and nothing here reads the process-wide ``CONFIG``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from xmodal.apps.diversity import mmr
from xmodal.apps.interactions import Interaction, InteractionStore
from xmodal.apps.profile import Profile, decay_factor
from xmodal.config import AppsConfig
from xmodal.errors import InvalidInput, NotFound
from xmodal.ingest.layout import parse_kinds, positive_k
from xmodal.ingest.results import Item

__all__ = ["Recommendation", "more_like_this", "recommend", "record_interaction", "interactions", "score_candidates"]


@dataclass
class Recommendation:
    path: str
    kind: str
    score: float
    because: str | None = None       # the liked item (or source item) this one is most similar to
    payload: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "score": round(float(self.score), 6),
                "because": self.because}


def interactions(lib, settings: AppsConfig | None = None) -> InteractionStore:
    """The interaction store of ``lib`` (created on first use, cached on the library object), under
    ``settings`` (default: the library's)."""
    return InteractionStore.beside(lib, settings)


def record_interaction(lib, user: str, item: str, event: str = "like", *, weight: float | None = None,
                       ts: float | None = None, settings: AppsConfig | None = None) -> Interaction:
    """Store one event about an indexed item and update the user's profile; bad input stores nothing.
    ``settings``: the event weights and half-life (default: the library's)."""
    found = _with_vector(lib, item)
    return interactions(lib, settings).record(user, found.path, event, found.vector, item_kind=found.kind, weight=weight, ts=ts)


def _with_vector(lib, item: str) -> Item:
    """The stored item named by ``item`` (a path as typed, or an id), with its vector."""
    found = lib.item(item, with_vectors=True)
    if found.vector is None:
        raise NotFound(f"{found.path}: the library holds no vector for it")
    return found


def _lambda(diversity: float | None, default: float) -> float:
    """MMR's lambda for ``diversity`` (``default``, ``rec_mmr_lambda``, when None)."""
    lam = default if diversity is None else 1.0 - float(diversity)
    if not 0.0 <= lam <= 1.0:
        raise InvalidInput(f"diversity must lie in [0, 1], got {diversity}")
    return lam


def more_like_this(lib, path: str, k: int = 10, *, across_kinds: bool = False,
                   kinds: Sequence[str] | None = None, where: Mapping | None = None,
                   diversity: float | None = 0.0, exclude: Sequence[str] = (),
                   settings: AppsConfig | None = None) -> list[Recommendation]:
    """Items nearest to ``path``: of its own kind unless ``across_kinds`` or ``kinds`` say otherwise.
    ``settings``: candidate pool and MMR default (default: the library's)."""
    cfg = settings or lib.settings.apps
    k = positive_k(k)
    kinds = parse_kinds(kinds)
    source = _with_vector(lib, path)
    src = source.path
    if kinds is None and not across_kinds:
        kinds = [source.kind]
    skip = {src, *exclude}
    pool = lib.nearest_items(source.vector[None, :], k + len(skip) + cfg.rec_candidate_k // 4,
                             kinds=kinds, where=where)[0]
    pool = [c for c in pool if c.path not in skip]
    if not pool:
        return []
    rel = np.array([c.score for c in pool])
    order = mmr(rel, np.stack([c.vector for c in pool]), k, _lambda(diversity, cfg.rec_mmr_lambda))
    return [Recommendation(pool[i].path, pool[i].kind, float(rel[i]), src, pool[i].payload) for i in order]


def score_candidates(cands: np.ndarray, profile: Profile, history: Sequence[Interaction],
                     now: float | None = None, settings: AppsConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Relevance of each candidate row for this user, and the index into the liked anchors behind it.

    relevance = share * max_i(decay_i * cos(c, liked_i)) + (1 - share) * cos(c, profile)
                - negative_weight * max_j(decay_j * |w_j| * cos(c, disliked_j))^+

    with share, negative_weight, the anchors and the decay's half-life from ``settings`` (``rec_*``,
    default ``AppsConfig()``).
    """
    cfg = settings or AppsConfig()
    now = time.time() if now is None else now
    c = cands / np.maximum(np.linalg.norm(cands, axis=1, keepdims=True), 1e-12)
    pos_dir = profile.direction("positive")
    prof = c @ pos_dir if pos_dir is not None else np.zeros(len(c))
    likes = [h for h in history if h.weight > 0 and h.vector is not None][: cfg.rec_interest_anchors]
    dislikes = [h for h in history if h.weight < 0 and h.vector is not None]
    because = np.full(len(c), -1)
    if likes:
        a = np.stack([h.vector for h in likes]).astype(np.float64)
        a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        w = np.array([decay_factor(now - h.ts, cfg.rec_half_life_days) for h in likes])
        sims = (c @ a.T) * (w / w.max())
        because = sims.argmax(axis=1)
        rel = cfg.rec_anchor_share * sims.max(axis=1) + (1 - cfg.rec_anchor_share) * prof
    else:
        rel = prof
    if dislikes:
        n = np.stack([h.vector for h in dislikes]).astype(np.float64)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        w = np.array([decay_factor(now - h.ts, cfg.rec_half_life_days) * abs(h.weight) for h in dislikes])
        penalty = np.clip(((c @ n.T) * w).max(axis=1), 0.0, None)
        rel = rel - cfg.rec_negative_weight * penalty
    return rel, because


def recommend(lib, user: str, k: int = 10, *, kinds: Sequence[str] | None = None, where: Mapping | None = None,
              exclude_seen: bool = True, exclude: Sequence[str] = (), diversity: float | None = None,
              collaborative: float | None = None, now: float | None = None,
              settings: AppsConfig | None = None) -> list[Recommendation]:
    """The user's next ``k`` items: profile + recent-likes candidates (plus items co-liked by other
    users, weighted by ``collaborative``, default ``rec_collaborative_weight``; 0 = content only),
    re-ranked by MMR, filtered. ``settings``: the ``rec_*`` numbers (default: the library's)."""
    k = positive_k(k)
    kinds = parse_kinds(kinds)
    cfg = settings or lib.settings.apps
    cf_weight = cfg.rec_collaborative_weight if collaborative is None else float(collaborative)
    if not 0.0 <= cf_weight:
        raise InvalidInput(f"collaborative weight must be >= 0, got {collaborative}")
    store = interactions(lib, cfg)
    profile = store.profile(user)
    history = store.history(user, with_vectors=True)
    skip = set(exclude)
    if exclude_seen:
        skip |= {h.item for h in history}
    likes = [h for h in history if h.weight > 0][: cfg.rec_interest_anchors]
    pos_dir = profile.direction("positive")
    if pos_dir is None:
        return _popular(lib, store, k, kinds, where, skip)
    queries = np.stack([pos_dir] + [h.vector for h in likes]).astype(np.float32)
    fetch = cfg.rec_candidate_k + len(skip)
    pool: dict[str, Item] = {}
    for hits in lib.nearest_items(queries, fetch, kinds=kinds, where=where):
        for h in hits:
            if h.path not in skip:
                pool.setdefault(h.path, h)
    co: dict[str, float] = {}
    if cf_weight > 0:
        co = {p: s for p, s in store.co_liked(user, [h.item for h in history if h.weight > 0]).items()
              if p not in skip}
        best_co = sorted(co, key=lambda p: -co[p])[: cfg.rec_candidate_k]
        found = lib.items([p for p in best_co if p not in pool], kinds=kinds, where=where, with_vectors=True)
        for p, hit in found.items():
            if hit.vector is not None:
                pool.setdefault(p, hit)
    if not pool:
        return []
    cands = list(pool.values())
    rel, because = score_candidates(np.stack([c.vector for c in cands]).astype(np.float64), profile, history, now, cfg)
    if co:
        top_co = max(co.values())
        rel = rel + cf_weight * np.array([co.get(c.path, 0.0) / top_co for c in cands])
    top = np.argsort(-rel)[: max(cfg.rec_candidate_k, k)]
    order = mmr(rel[top], np.stack([cands[i].vector for i in top]), k, _lambda(diversity, cfg.rec_mmr_lambda))
    out = []
    for j in order:
        i = top[j]
        why = likes[because[i]].item if because[i] >= 0 and because[i] < len(likes) else None
        out.append(Recommendation(cands[i].path, cands[i].kind, float(rel[i]), why, cands[i].payload))
    return out


def _popular(lib, store: InteractionStore, k: int, kinds, where, skip: set[str]) -> list[Recommendation]:
    """Cold start: most-liked items that pass the filters and were not seen."""
    ranked = [p for p, _ in store.popularity().most_common() if p not in skip]
    allowed = {p: it.kind for p, it in lib.items(ranked, kinds=kinds, where=where).items()}
    counts = store.popularity()
    return [Recommendation(p, allowed[p], float(counts[p]), None) for p in ranked if p in allowed][:k]
