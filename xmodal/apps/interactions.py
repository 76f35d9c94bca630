"""Users' interactions and their incrementally updated profiles, stored in the vector database.

Two collections sit beside the library's own, so they travel with it and work on every backend
(embedded or Milvus): ``<library>__interactions`` holds one row per event (user, item path,
event, weight, time) with the item's vector, and ``<library>__profiles`` one row per user with
the decayed liked / disliked sums (see :mod:`xmodal.apps.profile`).

Recording an event updates the stored profile in O(1). The profile row also counts the events it
has folded in; if a crash left it behind its event rows, :meth:`InteractionStore.profile` notices
the mismatch and rebuilds it from the events.
"""
from __future__ import annotations

import copy
import math
import threading
import time
import uuid
import weakref
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from xmodal.apps.profile import Profile
from xmodal.config import AppsConfig
from xmodal.db.api import BaseCollection, BaseDatabase, VectorField
from xmodal.errors import InvalidInput

__all__ = ["InteractionStore", "Interaction", "event_weight", "items_of"]

INTERACTIONS_SUFFIX = "__interactions"
PROFILES_SUFFIX = "__profiles"
_INTERACTION_SCHEMA = {"user": "str", "item": "str", "event": "str", "weight": "float", "ts": "float",
                       "item_kind": "str"}
_BESIDE: "weakref.WeakKeyDictionary[Any, InteractionStore]" = weakref.WeakKeyDictionary()
_PROFILE_SCHEMA = {"user": "str", "t_ref": "float", "positive_mass": "float", "negative_mass": "float",
                   "interactions": "int"}


@dataclass(frozen=True)
class Interaction:
    user: str
    item: str
    event: str
    weight: float
    ts: float
    item_kind: str = ""
    vector: np.ndarray | None = None


def event_weight(event: str, weight: float | None = None, weights: Mapping[str, float] | None = None) -> float:
    """The signed weight of an event: explicit, or from ``weights`` (an ``AppsConfig``'s
    ``rec_event_weights``; the defaults' when None)."""
    if weight is not None:
        w = float(weight)
        if not np.isfinite(w):
            raise InvalidInput(f"interaction weight must be finite, got {weight!r}")
        return w
    if weights is None:
        weights = AppsConfig().rec_event_weights
    if event not in weights:
        raise InvalidInput(f"unknown interaction event {event!r}; known: {', '.join(sorted(weights))} "
                           "(or pass an explicit weight)")
    return float(weights[event])


class InteractionStore:
    """Events and profiles for one library, in two collections beside its own.

    ``create(suffix, vectors, payload_schema, metadata)`` opens (or creates) the collection named
    after the library plus ``suffix``: :meth:`beside` a :class:`~xmodal.ingest.library.Library`, or
    :meth:`in_database` for a bare database. ``settings``: the event weights, history limit,
    co-likers read and profile half-life (``rec_*``), default ``AppsConfig()``."""

    def __init__(self, create: Callable[..., BaseCollection], dim: int, settings: AppsConfig | None = None) -> None:
        self.dim = int(dim)
        self.settings = settings or AppsConfig()
        # Recording is read-modify-write of the profile row; server threads take turns per store.
        self._lock = threading.Lock()
        self.events: BaseCollection = create(
            INTERACTIONS_SUFFIX, {"item": VectorField(dim=self.dim, metric="cosine")}, _INTERACTION_SCHEMA,
            {"purpose": "interactions"})
        self.profiles: BaseCollection = create(
            PROFILES_SUFFIX, {"positive": VectorField(dim=self.dim, metric="ip"),
                              "negative": VectorField(dim=self.dim, metric="ip")},
            _PROFILE_SCHEMA, {"purpose": "profiles"})

    @classmethod
    def beside(cls, library, settings: AppsConfig | None = None) -> "InteractionStore":
        """The store of a media library, one per open library object (its collections are shared),
        with the library's settings (``library.settings.apps``) unless ``settings`` are given."""
        store = _BESIDE.get(library)
        if store is None:
            store = _BESIDE[library] = cls(library.companion_collection, library.dim, library.settings.apps)
        return store if settings is None or settings == store.settings else store.using(settings)

    @classmethod
    def in_database(cls, database: BaseDatabase, namespace: str, dim: int,
                    settings: AppsConfig | None = None) -> "InteractionStore":
        """The store kept in ``database`` under ``namespace`` (``<namespace>__interactions`` ...)."""
        def create(suffix, vectors, payload_schema, metadata):
            return database.create_collection(namespace + suffix, vectors=vectors, payload_schema=payload_schema,
                                              metadata=metadata, exist_ok=True)
        return cls(create, dim, settings)

    def using(self, settings: AppsConfig) -> "InteractionStore":
        """This store read and written under other ``settings``: the same collections and the same
        lock, so writers under either settings still take turns on a profile."""
        other = copy.copy(self)
        other.settings = settings
        return other

    # ------------------------------------------------------------------ writing
    def record(self, user: str, item: str, event: str, vector: np.ndarray, *, item_kind: str = "",
               weight: float | None = None, ts: float | None = None) -> Interaction:
        """Store one event and fold it into the user's profile; bad input stores nothing."""
        if not isinstance(user, str) or not user.strip():
            raise InvalidInput(f"user must be a non-empty string, got {user!r}")
        if not isinstance(item, str) or not item:
            raise InvalidInput(f"item must be a non-empty path, got {item!r}")
        w = event_weight(event, weight, self.settings.rec_event_weights)
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.dim or not np.all(np.isfinite(v)):
            raise InvalidInput(f"vector of item {item!r} must be {self.dim} finite numbers")
        ts = time.time() if ts is None else float(ts)
        with self._lock:
            profile = self.profile(user)
            profile.add(v, w, ts, self.settings.rec_half_life_days)
            self.events.upsert([uuid.uuid4().hex], {"item": v[None, :]},
                               [{"user": user, "item": item, "event": event, "weight": w, "ts": ts,
                                 "item_kind": item_kind}])
            self._save(profile)
        return Interaction(user, item, event, w, ts, item_kind, v)

    def forget(self, user: str) -> int:
        """Delete every event and the profile of ``user`` (right to be forgotten); returns events removed."""
        n = self.events.delete(where={"user": user})
        self.profiles.delete(ids=[user])
        return n

    def forget_item(self, item: str) -> int:
        """Delete the events about an item that left the library, and rebuild affected profiles."""
        users = {r.payload["user"] for r in self.events.scroll(where={"item": item})}
        n = self.events.delete(where={"item": item})
        for u in users:
            self._save(self._rebuild(u))
        return n

    # ------------------------------------------------------------------ reading
    def history(self, user: str, limit: int | None = None, with_vectors: bool = False) -> list[Interaction]:
        """The user's events, newest first (at most ``limit``, default ``rec_history_limit``)."""
        limit = self.settings.rec_history_limit if limit is None else limit
        rows = list(self.events.scroll(where={"user": user}, with_vectors=with_vectors))
        rows.sort(key=lambda r: r.payload["ts"], reverse=True)
        return [self._interaction(r) for r in rows[:limit]]

    def seen(self, user: str) -> set[str]:
        """Every item the user interacted with, whatever the event (for exclude-seen filtering)."""
        return {r.payload["item"] for r in self.events.scroll(where={"user": user})}

    def users(self) -> list[str]:
        return sorted(r.payload["user"] for r in self.profiles.scroll())

    def popularity(self, positive_only: bool = True) -> Counter[str]:
        """Items by number of (positive) events: the popularity baseline and a cold-start fallback."""
        counts: Counter[str] = Counter()
        for r in self.events.scroll():
            if not positive_only or r.payload["weight"] > 0:
                counts[r.payload["item"]] += 1
        return counts

    def co_liked(self, user: str, items: Sequence[str]) -> dict[str, float]:
        """Item-to-item collaborative scores from other users' likes: for each item ``j`` liked by
        people who also liked one of ``items``, the sum over those items ``i`` of
        ``|likers(i) & likers(j)| / sqrt(|likers(i)| * |likers(j)|)`` (cosine of binary like vectors,
        so a universally liked item does not win by popularity alone). Reads only the events of
        those items and of at most ``rec_collaborative_users`` co-likers."""
        items = list(dict.fromkeys(items))
        if not items:
            return {}
        likers_i: dict[str, set[str]] = defaultdict(set)
        for r in self.events.scroll(where={"item": {"$in": items}}):
            if r.payload["weight"] > 0 and r.payload["user"] != user:
                likers_i[r.payload["item"]].add(r.payload["user"])
        others = sorted(set().union(*likers_i.values()))[: self.settings.rec_collaborative_users]
        if not others:
            return {}
        co: dict[str, set[str]] = defaultdict(set)
        for r in self.events.scroll(where={"user": {"$in": others}}):
            if r.payload["weight"] > 0 and r.payload["item"] not in likers_i:
                co[r.payload["item"]].add(r.payload["user"])
        likers_j: dict[str, set[str]] = defaultdict(set)
        for r in self.events.scroll(where={"item": {"$in": sorted(co)}}) if co else ():
            if r.payload["weight"] > 0:
                likers_j[r.payload["item"]].add(r.payload["user"])
        scores: dict[str, float] = {}
        for j, users_j in co.items():
            s = sum(len(li & users_j) / math.sqrt(len(li) * len(likers_j[j])) for li in likers_i.values() if li)
            if s > 0:
                scores[j] = s
        return scores

    def profile(self, user: str) -> Profile:
        """The stored profile, rebuilt from events if it is missing or behind them."""
        stored = self.profiles.get([user], with_vectors=True)
        n_events = self.events.count(where={"user": user})
        if stored:
            p = stored[0]
            if int(p.payload.get("interactions", -1)) == n_events:
                vecs = p.vectors or {}
                return Profile(user=user, dim=self.dim, positive=vecs.get("positive"),
                               negative=vecs.get("negative"), t_ref=float(p.payload["t_ref"]),
                               positive_mass=float(p.payload["positive_mass"]),
                               negative_mass=float(p.payload["negative_mass"]), interactions=n_events)
        if n_events == 0:
            return Profile(user=user, dim=self.dim)
        return self._rebuild(user)

    # ------------------------------------------------------------------ internals
    def _rebuild(self, user: str) -> Profile:
        profile = Profile(user=user, dim=self.dim)
        rows = sorted(self.events.scroll(where={"user": user}, with_vectors=True), key=lambda r: r.payload["ts"])
        for r in rows:
            profile.add(r.vectors["item"], r.payload["weight"], r.payload["ts"], self.settings.rec_half_life_days)
        return profile

    def _save(self, profile: Profile) -> None:
        if profile.interactions == 0:
            self.profiles.delete(ids=[profile.user])
            return
        self.profiles.upsert([profile.user], {"positive": profile.positive[None, :].astype(np.float32),
                                              "negative": profile.negative[None, :].astype(np.float32)},
                             [profile.to_payload()])

    @staticmethod
    def _interaction(r) -> Interaction:
        p = r.payload
        vec = r.vectors["item"] if r.vectors and "item" in r.vectors else None
        return Interaction(p["user"], p["item"], p["event"], float(p["weight"]), float(p["ts"]),
                           p.get("item_kind", ""), vec)


def items_of(history: Iterable[Interaction], positive: bool = True) -> list[str]:
    """Items of the positive (or negative) events, newest first, each once."""
    out: dict[str, None] = {}
    for it in history:
        if (it.weight > 0) == positive:
            out.setdefault(it.item, None)
    return list(out)
