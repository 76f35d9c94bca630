"""One vector field of a collection: the exact float32 store, its slots, tombstones and index.

Why a separate exact store for every kind: compressed indexes re-rank their candidates against
exact vectors, untrained kinds search exactly, small filtered subsets are scanned exactly and
range / threshold queries are re-checked exactly. The store is an :class:`~xmodal.db.arena.Arena`:
a memory-mapped file served by the page cache, so the index keeps the only float32 copy in
process memory (FAISS's own storage for hnsw / ivf_flat, none at all for the compressed kinds).

Distances inside this module are FAISS's: squared L2 for ``l2``, inner product for ``cosine``
(normalised vectors) and ``ip``. The collection turns them into user-facing scores.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import faiss
import numpy as np

from xmodal.config import FORMAT_VERSION, DBConfig
from xmodal.db.api import VectorField
from xmodal.db.arena import Arena, knn_block
from xmodal.db.indexes import AnnIndex, IvfMixin, KdTreeIndex, SearchKnobs, default_pq_m, faiss_metric, make_index
from xmodal.db.locks import ReadWriteLock
from xmodal.db.planner import (INDEX, SUBSET, KnnShape, WithinShape, filtered_ef, filtered_nprobe, plan_knn,
                                plan_within, worth_probing)
from xmodal.db.planner import Path as PlanPath
from xmodal.db.streaming import merge_knn, run_fold_hooks

__all__ = ["RebuildPlan", "FILTER_CACHE_ENTRIES", "Allowed", "grow", "bitmap_selector", "first_allowed", "FieldIndex"]

@dataclass
class RebuildPlan:
    x: np.ndarray  # live vectors at planning time
    rids: np.ndarray  # their row ids
    n_at_start: int  # slots used at planning time: later ones are caught up at install
    retrain: bool
    template: Any  # an empty clone of the trained index, when it is reused
    trained_on: int


# Searches cache each filter's allowed slots per data version (an LRU of FILTER_CACHE_ENTRIES
# filters per collection), with a gathered copy of their vectors within DBConfig.filter_gather_max_bytes.
FILTER_CACHE_ENTRIES = 8


@dataclass
class Allowed:
    """The slots a filter allows in one field, prepared lazily and reused (collections cache it per
    filter and data version): the slot mask and its count; the slot list, a gathered copy of their
    vectors (for an exact scan of the subset) and a FAISS bitmap selector (for the index) are made
    the first time a search needs them. Each is published by one assignment, so concurrent readers
    sharing a cached Allowed at worst both build it."""

    ok: np.ndarray  # (n,) bool over slots
    m: int
    _idx: np.ndarray | None = None
    _xs: np.ndarray | None = None
    _sel: tuple[Any, np.ndarray] | None = None  # (selector, the bits it points into)
    plans: dict = field(default_factory=dict)  # planner choices for this filter (see FieldIndex.knn)
    uses: int = 0  # k-NN searches that asked for it (a cached filter is asked again and again)

    def indices(self) -> np.ndarray:
        """The allowed slots, ascending."""
        idx = self._idx
        if idx is None:
            idx = self._idx = np.flatnonzero(self.ok)
        return idx

    @property
    def gathered(self) -> bool:
        return self._xs is not None

    def block_fits(self, max_bytes: int, dim: int) -> bool:
        """Whether the allowed rows' gathered block (float32, ``dim`` wide) is within the gather
        budget ``max_bytes``, i.e. would be kept with the filter."""
        return self.m * dim * 4 <= max_bytes

    def subset_ready(self, max_bytes: int, dim: int) -> bool:
        """Whether a subset scan may count its gather as paid: done already, or the filter is
        being repeated and its block fits the budget (so it will be kept). Without this the
        planner charged the gather to every search of a repeated filter and, once it had chosen
        the index, never gathered: at 1 % of 50k rows IVF searches then ran 7x slower than the
        subset scan (issue 16)."""
        return self._xs is not None or (self.uses > 1 and self.block_fits(max_bytes, dim))

    def vectors(self, xb: Callable[[], np.ndarray], max_bytes: int) -> np.ndarray:
        """The allowed rows of the store (``xb``: its view, asked for only when needed) as one
        block, kept when within the gather budget ``max_bytes``."""
        xs = self._xs
        if xs is None:
            xs = np.ascontiguousarray(xb()[self.indices()])
            if xs.nbytes <= max_bytes:
                self._xs = xs
        return xs

    def selector(self) -> Any:
        sel = self._sel
        if sel is None:
            sel = self._sel = bitmap_selector(self.ok)
        return sel[0]


_EMPTY_D = np.zeros((0,), np.float32)
_EMPTY_I = np.zeros((0,), np.int64)


def grow(arr: np.ndarray, size: int, fill: Any) -> np.ndarray:
    """Return ``arr`` with room for ``size`` entries (capacity doubles, so appends are amortised O(1))."""
    if size <= len(arr):
        return arr
    out = np.full(max(size, 2 * len(arr), 1024), fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


def bitmap_selector(ok: np.ndarray) -> tuple[Any, np.ndarray]:
    """A FAISS selector over slots; the bit array is returned too and must outlive the search."""
    bits = np.packbits(ok, bitorder="little")
    return faiss.IDSelectorBitmap(len(ok), faiss.swig_ptr(bits)), bits


def first_allowed(D: np.ndarray, I: np.ndarray, good: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first ``k`` results marked good, in their order (-1 slots pad the rest)."""
    order = np.argsort(~good, axis=1, kind="stable")[:, :k]
    D = np.take_along_axis(D, order, axis=1)
    I = np.where(np.take_along_axis(good, order, axis=1), np.take_along_axis(I, order, axis=1), -1)
    return D, I


class FieldIndex:
    def __init__(self, name: str, spec: VectorField, settings: DBConfig | None = None,
                 arena_dir: Path | None = None) -> None:
        """``settings``: the database's (index defaults, planner costs); ``arena_dir``: where the
        exact store's (unlinked) arena file lives; None: the system's temporary folder."""
        self.name = name
        self.spec = spec
        self.settings = settings or DBConfig()  # the database's (index defaults, planner costs)
        self.metric = faiss_metric(spec.metric)
        self.is_l2 = spec.metric == "l2"
        self.arena_dir = arena_dir
        self.store = self._new_store()
        self.n = 0  # slots used
        self.n_dead = 0
        self.slot_rids = np.zeros(0, np.int64)
        self.slot_alive = np.zeros(0, bool)
        self.slot_of = np.zeros(0, np.int64)  # rid -> slot, -1 when absent
        self.ann: AnnIndex | None = make_index(spec, self.settings)
        self.unsaved = 0  # vectors added to the ann index since its last snapshot
        self._live_sel: tuple[int, Any, np.ndarray] | None = None  # (n_dead at build, selector, bits)
        self.rebuilding = False  # a background rebuild is under way
        self.pending_build = False  # opened without a usable snapshot: searches are exact until built
        self.epoch = 0  # bumped whenever slots change (add, remove, install): keys cached Allowed sets
        # Streaming inserts (xmodal.db.streaming): the index holds slots [0, indexed); the rest is
        # the growing part, scanned exactly by searches until the folder adds it to the index.
        self.indexed = 0
        self.ann_lock = ReadWriteLock()  # guards the index against a fold running beside searches
        self._plan_cache: tuple[Any, tuple[dict, int, int]] | None = None  # (index object, planner inputs)

    # ------------------------------------------------------------------ storage of vectors
    def _new_store(self) -> Arena:
        return Arena(self.spec.dim, self.metric, self.arena_dir, self.settings.arena_gather_map_bytes)

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """Vectors as the index holds them: cosine fields are normalised."""
        if self.spec.metric == "cosine":
            x = np.array(x, dtype=np.float32, order="C")  # a copy, normalised in place
            faiss.normalize_L2(x)
            return x
        return np.ascontiguousarray(x, dtype=np.float32)

    def xb(self) -> np.ndarray:
        """Zero-copy view of the stored vectors (valid until the next add)."""
        if self.n == 0:
            return np.zeros((0, self.spec.dim), np.float32)
        return self.store.xb()[: self.n]

    def stored_vectors(self, rids: np.ndarray) -> dict[int, np.ndarray] | None:
        """The vectors of these row ids as given, read from the arena (rows without a vector
        here are left out); None for cosine, whose arena holds them normalised."""
        if self.spec.metric == "cosine":
            return None
        rids = np.asarray(rids, dtype=np.int64)
        rids = rids[rids < len(self.slot_of)]
        slots = self.slot_of[rids]
        have = slots >= 0
        rids, slots = rids[have], slots[have]
        rows = self.store.gather(slots)
        return dict(zip(rids.tolist(), rows))

    @property
    def live(self) -> int:
        return self.n - self.n_dead

    def add(self, rids: np.ndarray, x: np.ndarray) -> None:
        """Append prepared vectors for new row ids (their slots follow the current ones)."""
        if len(rids) == 0:
            return
        start, end = self.n, self.n + len(rids)
        self.store.add(x)
        self.slot_rids = grow(self.slot_rids, end, -1)
        self.slot_alive = grow(self.slot_alive, end, False)
        self.slot_rids[start:end] = rids
        self.slot_alive[start:end] = True
        self.slot_of = grow(self.slot_of, int(rids.max()) + 1, -1)
        self.slot_of[rids] = np.arange(start, end)
        self.n = end
        self._live_sel = None
        self.epoch += 1
        ann = self.ann
        if isinstance(ann, KdTreeIndex):
            ann.add(x)
            self.indexed = self.n
        # Other kinds: the new slots are the growing part until the folder adds them.

    # ------------------------------------------------------------------ streaming
    def streams(self) -> bool:
        """Whether searches go through an index that has a growing part beside it."""
        ann = self.ann
        return ann is not None and not isinstance(ann, KdTreeIndex) and ann.is_trained and not self.pending_build

    def fold_pending(self) -> bool:
        """Rows wait to be folded into the index (not while a rebuild will replace it anyway, nor
        into a stale index: the folder stops, and its idle step starts the rebuild)."""
        ann = self.ann
        return (self.streams() and not self.rebuilding and self.indexed < self.n
                and not (ann is not None and ann.stale()))  # a stale index is rebuilt with every row

    def fold_step(self, lock: ReadWriteLock, max_rows: int) -> int:
        """Add the next ``max_rows`` growing slots to the index; the rows folded (0: nothing to do
        or the index changed meanwhile). Runs in the folder thread with no lock held."""
        with lock.read():
            if not self.fold_pending():
                return 0
            ann, lo = self.ann, self.indexed
            hi = min(self.n, lo + max(1, max_rows))
            x = self.store.read(lo, hi)
        assert ann is not None
        run_fold_hooks(self.name, lo, hi, "start")
        with self.ann_lock.write():
            if self.ann is not ann or self.indexed != lo:
                return 0  # rebuilt or installed meanwhile: the new index decides what is growing
            ann.add(x)
            run_fold_hooks(self.name, lo, hi, "added")
            self.indexed = hi
            self.unsaved += hi - lo
            store = self.store
        if self.ann_holds_vectors():
            store.release(lo, hi)  # the index answers for them now: leave their pages to the cache
        return hi - lo

    def ann_holds_vectors(self) -> bool:
        """Whether the index answers without reading the exact store (no re-ranking)."""
        ann = self.ann
        return ann is not None and ann.exact_scores

    @property
    def growing(self) -> int:
        """Slots searched exactly beside the index."""
        return self.n - self.indexed if self.streams() else 0

    def _growing_knn(self, q: np.ndarray, k: int, ok: np.ndarray | None,
                     lo: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest among the allowed (or live) growing slots from ``lo`` on."""
        hi = self.n
        keep = (ok[lo:hi] if ok is not None else self.slot_alive[lo:hi])
        xs = self.xb()[lo:hi]
        idx = None
        if not keep.all():
            idx = lo + np.flatnonzero(keep)
            xs = xs[keep]
        if len(xs) == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        D, I = faiss.knn(q, np.ascontiguousarray(xs), min(k, len(xs)), self.metric)
        return D, (idx[I] if idx is not None else I + lo)

    def wants_rebuild(self) -> str | None:
        """Why the index should be rebuilt now: "build", "train", "retrain", "compact" or None."""
        if self.pending_build:
            return "build"
        ann = self.ann
        if ann is not None and ann.stale():
            return "retrain"
        if ann is not None and ann.needs_training:
            if not ann.is_trained:
                return "train" if self.live >= ann.min_train() else None
            if self.live > self.settings.retrain_growth_factor * max(ann.trained_on, 1):
                return "retrain"
        return "compact" if self.needs_compaction() else None

    def remove(self, rids: np.ndarray) -> int:
        """Tombstone the slots of these row ids; returns how many were present."""
        rids = rids[rids < len(self.slot_of)]
        slots = self.slot_of[rids]
        slots = slots[slots >= 0]
        if len(slots) == 0:
            return 0
        self.slot_alive[slots] = False
        self.slot_of[self.slot_rids[slots]] = -1
        self.n_dead += len(slots)
        self._live_sel = None
        self.epoch += 1
        if self.ann is not None and isinstance(self.ann, KdTreeIndex):
            self.ann.dirty = True
        return len(slots)

    def needs_compaction(self) -> bool:
        return self.n_dead > 0 and self.n_dead >= self.settings.compact_tombstone_ratio * self.n

    def rebuild(self, retrain: bool = False) -> None:
        """Drop tombstones and rebuild the index now (retraining it when asked)."""
        plan = self.plan_rebuild(retrain)
        self.install(plan, *self.build(plan))

    def plan_rebuild(self, retrain: bool) -> RebuildPlan:
        """Copy what a rebuild needs (under the collection's write lock); the build itself can
        then run without any lock while searches and writes go on."""
        keep = self.slot_alive[: self.n]
        template = None
        ann = self.ann
        if ann is not None and ann.needs_training and ann.is_trained and not retrain:
            with self.ann_lock.read():
                template = faiss.clone_index(ann.index)  # keep the trained quantiser, drop the codes
            template.reset()
        return RebuildPlan(self.store.read(0, self.n)[keep], self.slot_rids[: self.n][keep].copy(), self.n, retrain,
                           template, ann.trained_on if ann is not None else 0)

    def build(self, plan: RebuildPlan) -> tuple[Any, AnnIndex | None]:
        """A fresh store and index over the plan's vectors. Touches nothing shared."""
        store = self._new_store()
        store.add(plan.x)
        ann = make_index(self.spec, self.settings)
        if ann is None:
            return store, None
        if ann.needs_training:
            if plan.template is not None:
                ann.index, ann.trained_on = plan.template, plan.trained_on
            elif len(plan.x) >= ann.min_train():
                ann.train(plan.x)
            else:
                return store, ann  # exact search until enough vectors exist again
        ann.add(plan.x)
        return store, ann

    def install(self, plan: RebuildPlan, store: Any, ann: AnnIndex | None) -> None:
        """Swap in a built store + index (under the write lock), catching up with the rows
        added and deleted since the plan was made."""
        tail = np.arange(plan.n_at_start, self.n)
        tail = tail[self.slot_alive[plan.n_at_start: self.n]]
        x_tail = self.xb()[tail].copy()
        rids_tail = self.slot_rids[tail].copy()
        still = self.slot_of[plan.rids] >= 0  # deleted since the plan: tombstones in the new index
        if len(tail):
            store.add(x_tail)  # the index catches up by folding them (they are its growing part)
        with self.ann_lock.write():  # a fold into the old index finishes first
            self.store = store
            self.ann = ann
            self.indexed = len(plan.rids) if ann is not None and ann.is_trained else 0
        self.pending_build = False
        self.slot_rids = np.concatenate([plan.rids, rids_tail])
        self.slot_alive = np.concatenate([still, np.ones(len(tail), bool)])
        self.n = len(self.slot_rids)
        self.n_dead = int((~still).sum())
        live = np.flatnonzero(self.slot_alive)
        self.slot_of[:] = -1
        self.slot_of[self.slot_rids[live]] = live
        self._live_sel = None
        self.epoch += 1
        self.unsaved = self.indexed

    # ------------------------------------------------------------------ masks
    def allowed_slots(self, rid_mask: np.ndarray | None) -> np.ndarray | None:
        """Slot mask of live slots whose row passes ``rid_mask`` (None: all live slots, no filter)."""
        if rid_mask is None:
            return None
        rids = self.slot_rids[: self.n]
        if self.n and int(rids.max()) < len(rid_mask):  # always, but for a mask of an older size
            ok = rid_mask[rids]  # one gather (a boolean-indexed scatter cost 10x as much)
        else:
            inside = rids < len(rid_mask)
            ok = np.zeros(self.n, bool)
            ok[inside] = rid_mask[rids[inside]]
        ok &= self.slot_alive[: self.n]
        return ok

    def allowed_rids(self, rids: np.ndarray) -> Allowed:
        """The live slots of these row ids (ascending rids, as a payload index finds them) without
        a pass over every row: only the slot mask itself is as long as the store."""
        rids = rids[rids < len(self.slot_of)]
        slots = self.slot_of[rids]
        slots = slots[slots >= 0]
        slots = slots[self.slot_alive[slots]]
        slots.sort()  # slots ascend with rids except after a rebuild caught rows up
        ok = np.zeros(self.n, bool)
        ok[slots] = True
        return Allowed(ok, len(slots), _idx=slots)

    def allowed(self, rid_mask: np.ndarray) -> Allowed:
        """The live slots whose row passes ``rid_mask``, prepared for repeated searches."""
        ok = self.allowed_slots(rid_mask)
        assert ok is not None
        return Allowed(ok, int(np.count_nonzero(ok)))

    def _live_selector(self) -> tuple[Any, np.ndarray] | None:
        if self.n_dead == 0:
            return None
        if self._live_sel is None:
            sel, bits = bitmap_selector(self.slot_alive[: self.n])
            self._live_sel = (self.n_dead, sel, bits)
        return self._live_sel[1], self._live_sel[2]

    # ------------------------------------------------------------------ k nearest
    def index_usable(self, ann: AnnIndex | None, knobs: SearchKnobs) -> bool:
        """Whether a search may go through the index: not when asked to be exact, not before it is
        built or trained, and not while it is stale (an ip HNSW whose norm bound a vector exceeded
        answers wrongly for that vector and its neighbours until rebuilt: the exact store answers)."""
        return not (ann is None or knobs.exact or self.pending_build or not ann.is_trained or ann.stale())

    def knn(self, q: np.ndarray, k: int, ok: np.ndarray | Allowed | None,
            knobs: SearchKnobs) -> tuple[np.ndarray, np.ndarray]:
        """(distances, slots), each (nq, k'), padded with -1 slots. ``ok``: allowed slots or None.

        Unfiltered searches use the field's index as asked; filtered ones go where the planner
        finds them cheapest: the index with a selector, an exact scan of the allowed rows only,
        or (one query) an exact scan of every slot with a selector."""
        if ok is None:  # unfiltered: the index as asked, with as few steps as possible (issue 16)
            m = self.n - self.n_dead
            if m == 0:
                return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
            k = min(k, m)
            if self.index_usable(self.ann, knobs):
                return self._ann_knn(q, k, None, m, knobs)
            return self._exact_knn(q, k, None, m)
        allowed = Allowed(ok, int(np.count_nonzero(ok))) if isinstance(ok, np.ndarray) else ok
        m = allowed.m
        nq = len(q)
        if m == 0:
            return np.zeros((nq, 0), np.float32), np.zeros((nq, 0), np.int64)
        k = min(k, m)
        ann = self.ann
        usable = self.index_usable(ann, knobs)
        # Repeated searches with one filter (its Allowed is cached per data version) re-use the
        # choice: the costs scale with the batch alike once the allowed rows are gathered.
        allowed.uses += 1
        ready = allowed.subset_ready(self.settings.filter_gather_max_bytes, self.spec.dim)
        key = (nq >= self.settings.blas_min_queries if ready else nq, k, usable, ready,
               knobs.ef, knobs.nprobe, knobs.refine_factor)
        path = allowed.plans.get(key)
        if path is None:
            path = allowed.plans[key] = self.plan_knn(nq, k, allowed, knobs if usable else None, ready)
        if path == INDEX:
            fixed, ef, nprobe = self._plan_inputs(ann)
            if self.spec.index == "hnsw":  # keep the beam's share of allowed nodes (as planned)
                knobs = replace(knobs, ef=filtered_ef(knobs.ef or ef, k, m, self.n, self.settings.planner))
            elif isinstance(ann, IvfMixin):  # probe enough lists to meet k allowed rows (as planned)
                knobs = replace(knobs, nprobe=filtered_nprobe(knobs.nprobe or nprobe, k, m, self.n,
                                                              fixed["nlist"], self.settings.planner))
            return self._ann_knn(q, k, allowed.ok, m, knobs, allowed)
        if path == SUBSET:
            return self._subset_knn(q, k, allowed)
        return self._exact_knn(q, k, allowed.ok, m, allowed)

    def _subset_knn(self, q: np.ndarray, k: int, allowed: Allowed) -> tuple[np.ndarray, np.ndarray]:
        """Brute force over the allowed rows only. A filter being repeated scans its gathered block
        (gathered at its second sighting and kept with it, so later searches pay no gather); a
        filter seen once, or one whose block is over the gather budget, is scanned in place from
        the arena by FAISS's by-index kernel (a gather would read the same rows and then copy
        them, for nothing when the filter never comes back: "cache on reuse", as Qdrant / Lucene
        do). Batches use the block: BLAS needs it and repays the gather within the batch."""
        idx = allowed.indices()
        batch = len(q) >= self.settings.blas_min_queries
        fits = allowed.block_fits(self.settings.filter_gather_max_bytes, self.spec.dim)
        if allowed.gathered or batch or allowed.subset_ready(self.settings.filter_gather_max_bytes, self.spec.dim):
            D, I = knn_block(q, allowed.vectors(self.xb, self.settings.filter_gather_max_bytes), k, self.metric)
            if k <= len(idx) and (I[:, -1] >= 0).all():  # the usual case (k <= allowed): no padding
                return D, idx[I]
            return D, np.where(I >= 0, idx[np.maximum(I, 0)], -1)
        # Within the budget the pages read are those a gather would map (and, like it, are not
        # counted against the arena's re-rank budget, whose release would fault them in again at
        # the next call); a block over the budget is counted, so it cannot stay mapped whole.
        return self.store.knn_by_idx(q, idx, k, count_mapped=not fits)

    def plan_knn(self, nq: int, k: int, allowed: Allowed, knobs: SearchKnobs | None,
                 ready: bool | None = None) -> PlanPath:
        """The planner's choice for a filtered batch (``knobs`` None: the index is not usable;
        ``ready``: the subset's gather counts as paid, by default when it is done)."""
        ann = self.ann if knobs is not None else None
        fixed, ef, nprobe = self._plan_inputs(ann)
        ready = allowed.gathered if ready is None else ready
        batch = nq >= self.settings.blas_min_queries
        shape = KnnShape(
            nq=nq, dim=self.spec.dim, k=k, rows=self.n, allowed=allowed.m, subset_ready=ready, batch=batch,
            in_place=not (ready or batch) and allowed.block_fits(self.settings.filter_gather_max_bytes, self.spec.dim),
            **fixed,
            ef=int((knobs.ef if knobs else None) or ef), nprobe=int((knobs.nprobe if knobs else None) or nprobe),
            refine=ann.refine_factor(knobs) if ann is not None and knobs is not None else 1)
        return plan_knn(shape, self.settings.planner)

    def _plan_inputs(self, ann: AnnIndex | None) -> tuple[dict, int, int]:
        """What the planner needs from the field's index that only changes with the index object
        (a retrained or rebuilt index is a new object), computed once: a filtered search on a
        small subset must not spend more on planning than on scanning."""
        cached = self._plan_cache
        if cached is not None and cached[0] is ann:
            return cached[1]
        p = self.spec.params
        fixed = {"kind": "flat" if ann is None else self.spec.index,
                 "M": int(p.get("M", self.settings.hnsw_m)),
                 "nlist": int(ann.ivf().nlist) if isinstance(ann, IvfMixin) else 1,
                 "pq_m": int(p.get("m", default_pq_m(self.spec.dim, self.settings.pq_dims_per_subquantizer)))}
        inputs = (fixed, int(p.get("ef_search", self.settings.hnsw_ef_search)), int(p.get("nprobe", self.settings.ivf_nprobe)))
        self._plan_cache = (ann, inputs)
        return inputs

    def _exact_knn(self, q: np.ndarray, k: int, ok: np.ndarray | None, m: int,
                   allowed: Allowed | None = None) -> tuple[np.ndarray, np.ndarray]:
        # FAISS's selector path skips BLAS: fine for a few queries, ~10x slower for a batch. Batches
        # therefore over-fetch past a few tombstones, or scan a gathered copy of the allowed rows.
        batch = len(q) >= self.settings.blas_min_queries
        if ok is None:
            if self.n_dead == 0:
                return self.store.search(q, k)
            if batch and self.n_dead <= self.settings.exact_overfetch_max:
                D, I = self.store.search(q, min(k + self.n_dead, self.n))
                return first_allowed(D, I, (I >= 0) & self.slot_alive[np.maximum(I, 0)], k)
            ok = self.slot_alive[: self.n]
        if batch:
            idx = np.flatnonzero(ok)
            D, I = faiss.knn(q, np.ascontiguousarray(self.xb()[idx]), k, self.metric)
            return D, np.where(I >= 0, idx[np.maximum(I, 0)], -1)
        if allowed is not None:
            return self.store.search(q, k, params=faiss.SearchParameters(sel=allowed.selector()))
        sel, bits = bitmap_selector(ok)
        return self.store.search(q, k, params=faiss.SearchParameters(sel=sel))

    def _ann_knn(self, q: np.ndarray, k: int, ok: np.ndarray | None, m: int,
                 knobs: SearchKnobs, allowed: Allowed | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The index's answer over the slots it holds, merged with an exact scan of the growing
        part (the slots a fold has not reached yet)."""
        if isinstance(self.ann, KdTreeIndex):
            return self._index_knn(q, k, ok, m, knobs, allowed)
        if self.indexed >= self.n:
            # Nothing growing: a fold only starts on rows a write adds, and writes wait for the
            # collection's read lock this search holds, so the index cannot change under it.
            return self._index_knn(q, k, ok, m, knobs, allowed)
        with self.ann_lock.read():
            lo = self.indexed
            if lo >= self.n:
                return self._index_knn(q, k, ok, m, knobs, allowed)
            keep = ok[lo:self.n] if ok is not None else self.slot_alive[lo:self.n]
            m_index = m - int(np.count_nonzero(keep))
            if m_index > 0:
                D, I = self._index_knn(q, k, ok, m_index, knobs, allowed)
        Dg, Ig = self._growing_knn(q, k, ok, lo)
        if m_index <= 0:
            return Dg, Ig
        return merge_knn(D, I, Dg, Ig, k, self.is_l2)

    def _index_knn(self, q: np.ndarray, k: int, ok: np.ndarray | None, m: int,
                   knobs: SearchKnobs, allowed: Allowed | None = None) -> tuple[np.ndarray, np.ndarray]:
        ann = self.ann
        assert ann is not None
        kk = k * ann.refine_factor(knobs)
        if isinstance(ann, KdTreeIndex):
            if ann.dirty:
                ann.rebuild(self.xb(), np.flatnonzero(self.slot_alive[: self.n]))
            if ok is None:
                D, I = ann.search(q, kk, None, knobs)
            else:
                D, I = self._overfetch(q, kk, ok, m, knobs)
            return self._rerank(q, I, k)
        if ok is None:
            live = self._live_selector() if self.n_dead else None
            if live is None:
                D, I = ann.search(q, kk, None, knobs)
            elif ann.supports_selector:
                D, I = ann.search(q, kk, live[0], knobs)
            else:
                D, I = self._overfetch(q, kk, self.slot_alive[: self.n], m, knobs)
        elif ann.supports_selector:
            if allowed is not None:
                D, I = ann.search(q, kk, allowed.selector(), knobs)
            else:
                sel, bits = bitmap_selector(ok)
                D, I = ann.search(q, kk, sel, knobs)
        else:
            D, I = self._overfetch(q, kk, ok, m, knobs)
        if ann.exact_scores:
            return (D, I) if kk == k else (D[:, :k], I[:, :k])
        return self._rerank(q, I, k)

    def _overfetch(self, q: np.ndarray, kk: int, ok: np.ndarray, m: int,
                   knobs: SearchKnobs) -> tuple[np.ndarray, np.ndarray]:
        """For kinds without selectors: ask for more until each query has ``kk`` allowed candidates."""
        assert self.ann is not None
        total = max(self.ann.ntotal, 1)
        fetch = min(total, int(math.ceil(kk * total / max(m, 1) * 1.25)) + 8)
        while True:
            D, I = self.ann.search(q, fetch, None, knobs)
            good = (I >= 0) & ok[np.maximum(I, 0)]
            if fetch >= total or (good.sum(axis=1) >= min(kk, m)).all():
                break
            fetch = min(total, fetch * 2)
        return first_allowed(D, I, good, kk)

    def exact_distances(self, q: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """FAISS-space distances between each query and its candidate slots (-1 gives +-inf)."""
        valid = slots >= 0
        v = self.store.gather(np.where(valid, slots, 0))
        if self.is_l2:
            d = ((v - q[:, None, :]) ** 2).sum(axis=-1)
            return np.where(valid, d, np.inf).astype(np.float32)
        d = np.einsum("qkd,qd->qk", v, q)
        return np.where(valid, d, -np.inf).astype(np.float32)

    def _rerank(self, q: np.ndarray, I: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` of each query's candidates by exact distance, read in place from the
        arena by FAISS's by-index kernel (-1 candidates, which FAISS puts last, are skipped)."""
        return self.store.knn_by_idx(q, I, min(k, I.shape[1]))

    # ------------------------------------------------------------------ range
    def within(self, q: np.ndarray, bound: float, ok: np.ndarray | Allowed | None,
               knobs: SearchKnobs) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query (slots, distances) of every allowed slot with distance <= bound (l2, squared)
        or similarity >= bound (ip). Exact on every kind: IVF kinds visit every list whose
        centroid bound can still qualify and re-check its rows exactly; kdtree asks its exact
        ball query; graph and compressed kinds cannot prove they found everything, so they scan
        exactly. The planner picks the index only when it is cheaper than the exact scan."""
        allowed = Allowed(ok, int(np.count_nonzero(ok))) if isinstance(ok, np.ndarray) else ok
        m = self.live if allowed is None else allowed.m
        if m == 0:
            return [(_EMPTY_I, _EMPTY_D) for _ in range(len(q))]
        ann = self.ann
        usable = self.index_usable(ann, knobs)
        if usable and isinstance(ann, KdTreeIndex):
            return self._kdtree_within(q, bound, None if allowed is None else allowed.ok)
        if usable and isinstance(ann, IvfMixin):
            with self.ann_lock.read():  # the lists must not grow under the probe (a fold adds to them)
                found = self._ivf_planned_within(q, bound, allowed, ann)
            if found is not None:
                return found
        path = plan_within(self.within_shape(len(q), allowed, None, None), self.settings.planner)
        return self._exact_within(q, bound, allowed, subset=path == SUBSET)

    def _ivf_planned_within(self, q: np.ndarray, bound: float, allowed: Allowed | None,
                            ann: IvfMixin) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """Range search through the IVF lists when the planner prefers it (None: it does not)."""
        if not (ann.bounds_complete() and
                worth_probing(self.within_shape(len(q), allowed, None, None), self.settings.planner)):
            return None
        lists = ann.probe(q, bound, self.is_l2)
        path = plan_within(self.within_shape(len(q), allowed, ann, lists), self.settings.planner)
        if path != INDEX:
            return None
        return self._ivf_within(q, bound, None if allowed is None else allowed.ok, ann, lists)

    def within_shape(self, nq: int, allowed: Allowed | None, ann: Any, lists: np.ndarray | None) -> WithinShape:
        """The planner's view of a range batch (``lists``: the IVF lists each query must visit)."""
        sizes = counts = None
        if lists is not None:
            sizes, counts = ann.list_sizes(), lists.sum(axis=0)
        return WithinShape(nq=nq, dim=self.spec.dim, rows=self.n, dead=self.n_dead,
                           allowed=None if allowed is None else allowed.m,
                           subset_ready=allowed is not None and allowed.gathered,
                           batch=nq >= self.settings.blas_min_queries, list_sizes=sizes, list_queries=counts)

    def _ivf_within(self, q: np.ndarray, bound: float, ok: np.ndarray | None, ann: IvfMixin,
                    lists: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Scan exactly the rows of every list some query of the batch must visit (their union:
        one gathered block and one matrix product beat a Python step per list and query; rows a
        query did not need are re-checked like the others and simply fall outside its bound)."""
        slots = ann.members_of(np.flatnonzero(lists.any(axis=0)))
        if self.indexed < self.n:  # the growing part is re-checked exactly as well
            slots = np.concatenate([slots, np.arange(self.indexed, self.n, dtype=np.int64)])
        keep = ok if ok is not None else (self.slot_alive[: self.n] if self.n_dead else None)
        if keep is not None:
            slots = slots[keep[slots]]
        if len(slots) == 0:
            return [(_EMPTY_I, _EMPTY_D) for _ in range(len(q))]
        slots.sort()  # ascending slots: a friendlier gather
        return self._scan_within(q, bound, slots)

    def _exact_within(self, q: np.ndarray, bound: float, allowed: Allowed | None,
                      subset: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
        if len(q) >= self.settings.blas_min_queries:
            if allowed is None:
                return self._scan_within(q, bound, np.flatnonzero(self.slot_alive[: self.n]) if self.n_dead else None)
            return self._scan_within(q, bound, allowed.indices(), allowed.vectors(self.xb, self.settings.filter_gather_max_bytes))
        # A few queries: FAISS's range search (no BLAS needed). It keeps strictly-inside results;
        # nudge the bound one ulp so the boundary is included.
        radius = float(np.nextafter(np.float32(bound), np.float32(np.inf if self.is_l2 else -np.inf)))
        dead = None
        if allowed is None:
            lims, D, I = self.store.range_search(q, radius)
            dead = ~self.slot_alive[: self.n] if self.n_dead else None
        elif subset:
            idx = allowed.indices()
            sub = faiss.IndexFlat(self.spec.dim, self.metric)
            sub.add(allowed.vectors(self.xb, self.settings.filter_gather_max_bytes))
            lims, D, I = sub.range_search(q, radius)
            I = idx[I]
        else:
            lims, D, I = self.store.range_search(q, radius, params=faiss.SearchParameters(sel=allowed.selector()))
        out = []
        for i in range(len(q)):
            d, s = D[lims[i]: lims[i + 1]], I[lims[i]: lims[i + 1]].astype(np.int64)
            keep = d <= bound if self.is_l2 else d >= bound
            if dead is not None:
                keep &= ~dead[s]
            out.append((s[keep], d[keep]))
        return out

    def _block_within(self, q: np.ndarray, qn: np.ndarray, block: np.ndarray,
                      bound: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query, row, exact distance) of every row of ``block`` within the bound: a matrix product
        finds candidates with a safety margin for float32 rounding, and each candidate is re-checked
        with the direct formula (so every path judges the boundary alike)."""
        dots = q @ block.T
        norms = np.einsum("ij,ij->i", block, block)
        if self.is_l2:
            tol = self.settings.range_rounding_margin * (qn[:, None] + norms[None, :])
            qi, j = np.nonzero(qn[:, None] + norms[None, :] - 2 * dots <= bound + tol)
            exact = ((q[qi] - block[j]) ** 2).sum(axis=1)
            keep = exact <= bound
        else:
            tol = self.settings.range_rounding_margin * np.sqrt(qn)[:, None] * np.sqrt(norms)[None, :]
            qi, j = np.nonzero(dots >= bound - tol)
            exact = np.einsum("ij,ij->i", q[qi], block[j])
            keep = exact >= bound
        return qi[keep], j[keep], exact[keep].astype(np.float32)

    def _scan_within(self, q: np.ndarray, bound: float, idx: np.ndarray | None,
                     gathered: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Exact range scan of a query batch with BLAS (4x faster than FAISS's range search), in
        blocks of rows (``idx``: only these slots; ``gathered``: their vectors, already copied)."""
        xb = self.xb() if gathered is None else gathered
        total = self.n if idx is None else len(idx)
        qn = np.einsum("ij,ij->i", q, q)
        found: list[list[np.ndarray]] = [[] for _ in range(len(q))]
        dists: list[list[np.ndarray]] = [[] for _ in range(len(q))]
        step = self.settings.exact_block_rows
        for lo in range(0, total, step):
            rows = np.arange(lo, min(lo + step, total)) if idx is None else idx[lo: lo + step]
            block = xb[lo: lo + step] if idx is None or gathered is not None else xb[rows]
            qi, j, exact = self._block_within(q, qn, block, bound)
            slots = rows[j]
            cuts = np.searchsorted(qi, np.arange(len(q) + 1))  # np.nonzero yields qi sorted
            for i in range(len(q)):
                if cuts[i + 1] > cuts[i]:
                    found[i].append(slots[cuts[i]: cuts[i + 1]])
                    dists[i].append(exact[cuts[i]: cuts[i + 1]])
        return [(np.concatenate(f).astype(np.int64) if f else _EMPTY_I, np.concatenate(d) if d else _EMPTY_D)
                for f, d in zip(found, dists)]

    def _kdtree_within(self, q: np.ndarray, bound: float,
                       ok: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        ann = self.ann
        assert isinstance(ann, KdTreeIndex)
        if ann.dirty:
            ann.rebuild(self.xb(), np.flatnonzero(self.slot_alive[: self.n]))
        # For normalised vectors |a-b|^2 = 2 - 2 cos; pad the ball a little and re-check exactly.
        r2 = bound if self.is_l2 else max(0.0, 2.0 - 2.0 * bound)
        r = math.sqrt(max(r2, 0.0)) * (1 + 1e-5) + 1e-6
        out = []
        for i, slots in enumerate(ann.ball(q, r)):
            if ok is not None:
                slots = slots[ok[slots]]
            d = self.exact_distances(q[i: i + 1], slots[None, :])[0]
            keep = d <= bound if self.is_l2 else d >= bound
            out.append((slots[keep], d[keep]))
        return out

    # ------------------------------------------------------------------ persistence
    def _paths(self, folder: Path) -> tuple[Path, Path, Path]:
        return folder / f"{self.name}.faiss", folder / f"{self.name}.slots.npy", folder / f"{self.name}.json"

    def save(self, folder: Path, watermark: int) -> bool:
        """Snapshot the ann index; best effort, never raises (derived data: a missing or old
        snapshot only costs re-adding what came after it). A full disk must not turn an
        acknowledged write into an error. Holds the slots the index holds; the growing part
        after them is re-added at the next open (the watermark is its first row)."""
        ann = self.ann
        if ann is None or self.pending_build or not ann.is_trained or isinstance(ann, KdTreeIndex):
            return False
        with self.ann_lock.read():  # no fold while the index is written out
            return self._save_locked(ann, folder, watermark)

    def _save_locked(self, ann: AnnIndex, folder: Path, watermark: int) -> bool:
        n = self.indexed
        if n < self.n:
            watermark = int(self.slot_rids[n])  # slots ascend by row id: older rows are all inside
        index_path, slots_path, meta_path = self._paths(folder)
        temps = [p.with_name(p.name + ".tmp") for p in (index_path, slots_path, meta_path)]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            meta_path.unlink(missing_ok=True)  # the snapshot is invalid while its files are replaced
            ann.save(temps[0])
            with open(temps[1], "wb") as fh:
                np.save(fh, self.slot_rids[:n])
            meta = {"format": FORMAT_VERSION, "spec": self.spec.to_dict(), "watermark": int(watermark),
                    "ntotal": int(n), "trained_on": int(ann.trained_on)}
            temps[2].write_text(json.dumps(meta))
            os.replace(temps[0], index_path)
            os.replace(temps[1], slots_path)
            os.replace(temps[2], meta_path)  # last: it validates the pair above
        except (OSError, RuntimeError):
            for tmp in temps:
                try:
                    tmp.unlink(missing_ok=True)
                except OSError:
                    pass
            return False
        self.unsaved = 0
        return True

    def bootstrap(self, rids: np.ndarray, x: np.ndarray, folder: Path | None) -> None:
        """Fill from the stored rows (ascending rid, prepared vectors), reusing a saved index
        snapshot when it is consistent and catching it up with the rows written after it."""
        if folder is not None and self._load_snapshot(rids, x, folder):
            return
        if self.ann is None or isinstance(self.ann, KdTreeIndex):
            self.add(rids, x)
            return
        # No usable snapshot: fill the exact store now and leave the index to be built (by the
        # collection: on the spot when small, in the background when big -- exact search meanwhile).
        self.ann, saved = None, self.ann
        self.add(rids, x)
        self.ann = saved
        self.ann.index = None if self.ann.needs_training else self.ann.index
        self.pending_build = True

    def _load_snapshot(self, rids: np.ndarray, x: np.ndarray, folder: Path) -> bool:
        ann = self.ann
        if ann is None or isinstance(ann, KdTreeIndex):
            return False
        index_path, slots_path, meta_path = self._paths(folder)
        if not meta_path.exists():
            return False
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format") != FORMAT_VERSION or meta.get("spec") != self.spec.to_dict():
                return False
            saved = np.load(slots_path)
            ann.load(index_path, int(meta["trained_on"]))
        except (OSError, ValueError, KeyError, RuntimeError):
            self.ann = make_index(self.spec, self.settings)  # unreadable snapshot: start afresh
            return False
        wm = int(meta["watermark"])
        if ann.ntotal != len(saved) or len(saved) != meta.get("ntotal"):
            self.ann = make_index(self.spec, self.settings)
            return False
        pos = np.searchsorted(rids, saved)
        present = (pos < len(rids)) & (rids[np.minimum(pos, max(len(rids) - 1, 0))] == saved) if len(rids) else \
            np.zeros(len(saved), bool)
        if int(present.sum()) != int((rids < wm).sum()):
            self.ann = make_index(self.spec, self.settings)  # a row older than the snapshot is missing from it: stale
            return False
        full = np.zeros((len(saved), self.spec.dim), np.float32)
        full[present] = x[pos[present]]
        self.store.add(full)
        self.n = len(saved)
        self.slot_rids = saved.astype(np.int64).copy()
        self.slot_alive = present.copy()
        self.n_dead = int((~present).sum())
        self.slot_of = grow(self.slot_of, int(saved.max(initial=-1)) + 1, -1)
        self.slot_of[saved[present]] = np.flatnonzero(present)
        self.indexed = len(saved)
        if isinstance(ann, IvfMixin):
            ann.restore_bounds(self.xb(), self.slot_alive[: self.n])
        newer = rids >= wm
        self.add(rids[newer], x[newer])
        return True
