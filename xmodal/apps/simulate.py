"""A simulated interaction log for evaluating recommenders without real users.

Each simulated user prefers one or two categories (e.g. Tux Paint's "animals" and "vehicles");
their events are drawn mostly from those categories, with some noise (a like outside them), some
dislikes of items outside them, and increasing timestamps. The categories are known, so the
evaluation can check what a recommender does with them, and the seed makes every run identical.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from xmodal.errors import InvalidInput
from xmodal.apps.profile import SECONDS_PER_DAY

__all__ = ["SimEvent", "SimUser", "SimulationSpec", "simulate_log", "leave_last_out"]


@dataclass(frozen=True)
class SimEvent:
    user: str
    item: str
    event: str
    ts: float


@dataclass(frozen=True)
class SimUser:
    name: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class SimulationSpec:
    users: int = 60
    events_per_user: tuple[int, int] = (8, 16)   # inclusive range
    two_category_share: float = 0.4              # users preferring two categories instead of one
    noise: float = 0.1                           # share of likes drawn from any category
    dislike_share: float = 0.1                   # share of events that are dislikes of other categories
    view_share: float = 0.2                      # share of positive events that are views, not likes
    span_days: float = 90.0
    start_ts: float = 1_700_000_000.0
    min_category_items: int = 5                  # categories smaller than this are never preferred
    seed: int = 0


def simulate_log(item_categories: Mapping[str, str], spec: SimulationSpec = SimulationSpec()
                 ) -> tuple[list[SimUser], list[SimEvent]]:
    """Users and their events, oldest first per user, over the items of ``item_categories``."""
    rng = np.random.default_rng(spec.seed)
    by_cat: dict[str, list[str]] = {}
    for item, cat in sorted(item_categories.items()):
        by_cat.setdefault(cat, []).append(item)
    eligible = sorted(c for c, items in by_cat.items() if len(items) >= spec.min_category_items)
    if len(eligible) < 2:
        raise InvalidInput(f"simulation needs at least two categories with {spec.min_category_items}+ items, "
                           f"got {len(eligible)}")
    all_items = sorted(item_categories)
    users: list[SimUser] = []
    events: list[SimEvent] = []
    for u in range(spec.users):
        n_cat = 2 if rng.random() < spec.two_category_share else 1
        cats = tuple(rng.choice(eligible, size=n_cat, replace=False).tolist())
        user = SimUser(f"user{u:03d}", cats)
        users.append(user)
        liked_pool = [i for c in cats for i in by_cat[c]]
        other_pool = [i for i in all_items if item_categories[i] not in cats]
        n = int(rng.integers(spec.events_per_user[0], spec.events_per_user[1] + 1))
        times = np.sort(spec.start_ts + rng.uniform(0, spec.span_days * SECONDS_PER_DAY, n))
        used: set[str] = set()
        for t in times:
            r = rng.random()
            if r < spec.dislike_share:
                pool, event = other_pool, "dislike"
            else:
                pool = all_items if rng.random() < spec.noise else liked_pool
                event = "view" if rng.random() < spec.view_share else "like"
            fresh = [i for i in pool if i not in used] or pool
            item = fresh[int(rng.integers(len(fresh)))]
            used.add(item)
            events.append(SimEvent(user.name, item, event, float(t)))
    return users, events


def leave_last_out(events: Sequence[SimEvent], positive: Sequence[str] = ("like",)
                   ) -> tuple[list[SimEvent], dict[str, str]]:
    """Training events and, per user, the held-out item: their latest positive event."""
    last: dict[str, SimEvent] = {}
    for e in events:
        if e.event in positive and (e.user not in last or e.ts >= last[e.user].ts):
            last[e.user] = e
    held = {u: e.item for u, e in last.items()}
    held_events = set(id(e) for e in last.values())
    train = [e for e in events if id(e) not in held_events]
    return train, held
