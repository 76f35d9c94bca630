"""Approximate index kinds behind one small interface (train / add / search / save / load).

Labels are *slots*: positions in the field's exact vector store (see :mod:`xmodal.db.vectors`),
added sequentially, so an index never needs an id map. Deleted slots stay in an index as
tombstones (excluded by a FAISS IDSelector, or by over-fetching where the kind has none) until
compaction rebuilds it. The exact store itself serves the ``flat`` kind and every kind that is
not trained yet.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import faiss
import numpy as np

from xmodal.config import DBConfig
from xmodal.db.api import VectorField
from xmodal.db.arena import swig_ptr

__all__ = ["faiss_metric", "default_pq_m", "SearchKnobs", "AnnIndex", "HnswIndex", "TrainedIndex", "IvfMixin",
           "IvfTrainedIndex", "IvfFlatIndex", "IvfPqIndex", "OpqIndex", "PqIndex", "Sq8Index", "LshIndex",
           "KdTreeIndex", "KINDS", "make_index", "configure_faiss_threads", "faiss_search"]


def faiss_metric(metric: str) -> int:
    """cosine is inner product over normalised vectors."""
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def default_pq_m(dim: int, dims_per_subquantizer: int = DBConfig.pq_dims_per_subquantizer) -> int:
    """The largest divisor of ``dim`` giving about ``dims_per_subquantizer`` dims each
    (``DBConfig.pq_dims_per_subquantizer`` of the database)."""
    target = max(1, dim // dims_per_subquantizer)
    for m in range(target, 0, -1):
        if dim % m == 0:
            return m
    return 1


@dataclass(frozen=True)
class SearchKnobs:
    """Per-query parameters, already validated (see schema.QUERY_PARAMS). Frozen: searches without
    parameters share one instance (``from_params({})``), and a planner's change is a ``replace``."""

    ef: int | None = None
    nprobe: int | None = None
    refine_factor: int | None = None
    exact: bool = False  # brute force on the exact store, whatever the index

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "SearchKnobs":
        if not params:
            return _NO_KNOBS
        return cls(ef=params.get("ef") or params.get("ef_search"), nprobe=params.get("nprobe"),
                   refine_factor=params.get("refine_factor"), exact=bool(params.get("exact", False)))


_NO_KNOBS = SearchKnobs()


def faiss_search(index: Any, q: np.ndarray, k: int, params: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``index.search`` without FAISS's Python wrapper: its shape / dtype checks and conversions
    cost as much as a small HNSW search does (issue 16: 0.8x raw FAISS one query per call). ``q``
    must already be C-contiguous float32 of the index's dimension (``FieldIndex.prepare`` and
    the query checks guarantee it)."""
    n = len(q)
    D = np.empty((n, k), np.float32)
    I = np.empty((n, k), np.int64)
    index.search_c(n, swig_ptr(q), k, swig_ptr(D), swig_ptr(I), params)
    return D, I


class AnnIndex:
    """One approximate index over the slots of a field.

    ``exact_scores``: the distances it returns are exact (no re-ranking needed).
    ``supports_selector``: it can restrict a search to allowed slots itself.
    """

    exact_scores = True
    supports_selector = True
    needs_training = False

    def __init__(self, spec: VectorField, settings: DBConfig | None = None) -> None:
        self.spec = spec
        self.settings = settings or DBConfig()  # the database's defaults for what params leave out
        self.params = dict(spec.params)
        self.metric = faiss_metric(spec.metric)
        self.index: Any = None
        self.trained_on = 0  # vectors the index was trained with
        self._params_cache: dict[int, Any] = {}

    # --- lifecycle -------------------------------------------------------------------------------
    def min_train(self) -> int:
        return 0

    @property
    def is_trained(self) -> bool:
        return self.index is not None

    def train(self, x: np.ndarray) -> None:
        raise NotImplementedError

    @property
    def ntotal(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    def add(self, x: np.ndarray) -> None:
        self.index.add(x)

    def reset(self) -> None:
        self.index.reset()

    def search(self, q: np.ndarray, k: int, sel: Any, knobs: SearchKnobs) -> tuple[np.ndarray, np.ndarray]:
        return faiss_search(self.index, q, k, self._search_params(k, sel, knobs))

    def refine_factor(self, knobs: SearchKnobs) -> int:
        return 1

    def stale(self) -> bool:
        """True when the index can no longer answer well without a rebuild."""
        return False

    def _search_params(self, k: int, sel: Any, knobs: SearchKnobs) -> Any:
        return faiss.SearchParameters(sel=sel) if sel is not None else None

    def _params_for(self, knob: int, sel: Any, make: Callable[[int], Any]) -> Any:
        """``make(knob)``'s SWIG parameter object with ``sel`` set; without a selector the object is
        reused per knob value (building one costs as much as a small search)."""
        if sel is None:
            cached = self._params_cache.get(knob)
            if cached is None:
                cached = self._params_cache[knob] = make(knob)
            return cached
        p = make(knob)
        p.sel = sel
        return p

    # --- persistence -----------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    def load(self, path: Path, trained_on: int) -> None:
        self.index = faiss.read_index(str(path))
        self.trained_on = trained_on


def _hnsw_params(ef: int) -> Any:
    return faiss.SearchParametersHNSW(efSearch=ef)


class HnswIndex(AnnIndex):
    """FAISS HNSW. For ``ip`` the graph is built in L2 over vectors augmented with one coordinate,
    sqrt(B - |x|^2) (the standard MIPS-to-nearest-neighbour reduction): HNSW over raw inner
    products, which is not a metric, missed 15% of a threshold query's results in our tests.
    Candidates are then re-scored exactly against the stored vectors."""

    def __init__(self, spec: VectorField, settings: DBConfig | None = None) -> None:
        super().__init__(spec, settings)
        self.mips = spec.metric == "ip"
        self.exact_scores = not self.mips
        self.bound2: float | None = None  # B: squared-norm bound of the augmentation (ip only)
        self.overflow = False  # a vector exceeded B: rebuild to restore exactness of the reduction
        self.reset()

    def reset(self) -> None:
        dim = self.spec.dim + (1 if self.mips else 0)
        self.index = faiss.IndexHNSWFlat(dim, self.params.get("M", self.settings.hnsw_m),
                                         faiss.METRIC_L2 if self.mips else self.metric)
        self.index.hnsw.efConstruction = self.params.get("ef_construction", self.settings.hnsw_ef_construction)
        self.bound2 = None
        self.overflow = False

    def add(self, x: np.ndarray) -> None:
        if not self.mips:
            self.index.add(x)
            return
        if len(x) == 0:  # an empty build must not fix the bound at zero (every later row would overflow)
            return
        norms2 = np.einsum("ij,ij->i", x, x)
        if self.bound2 is None:
            self.bound2 = max(float(norms2.max(initial=0.0)), 1e-12) * self.settings.mips_norm_headroom ** 2
        if norms2.max(initial=0.0) > self.bound2:
            self.overflow = True
        extra = np.sqrt(np.maximum(self.bound2 - norms2, 0.0)).astype(np.float32)
        self.index.add(np.ascontiguousarray(np.hstack([x, extra[:, None]])))

    def stale(self) -> bool:
        return self.overflow

    def search(self, q: np.ndarray, k: int, sel: Any, knobs: SearchKnobs) -> tuple[np.ndarray, np.ndarray]:
        if not self.mips:
            return faiss_search(self.index, q, k, self._search_params(k, sel, knobs))
        qa = np.ascontiguousarray(np.hstack([q, np.zeros((len(q), 1), np.float32)]))
        D, I = self.index.search(qa, k, params=self._search_params(k, sel, knobs))
        # |q'-x'|^2 = |q|^2 + B - 2 q.x: turn back into inner products (re-scored exactly later).
        return ((np.einsum("ij,ij->i", q, q)[:, None] + (self.bound2 or 0.0) - D) / 2).astype(np.float32), I

    def load(self, path: Path, trained_on: int) -> None:
        super().load(path, trained_on)
        if self.mips and self.index.ntotal:
            v = self.index.reconstruct(0)
            self.bound2 = float(v @ v)  # every augmented vector has squared norm B

    def _search_params(self, k: int, sel: Any, knobs: SearchKnobs) -> Any:
        ef = max(int(knobs.ef or self.params.get("ef_search", self.settings.hnsw_ef_search)), k)
        if sel is None:  # the usual case, without a call (see _params_for)
            cached = self._params_cache.get(ef)
            if cached is not None:
                return cached
        return self._params_for(ef, sel, _hnsw_params)


class TrainedIndex(AnnIndex):
    """Kinds that learn from data: exact search is used until ``min_train`` vectors exist."""

    needs_training = True
    min_points_per_centroid = 1  # codebook size times this must be available for training

    def min_train(self) -> int:
        return max(self.params.get("min_train", self.settings.min_train_vectors), self._min_points())

    def _min_points(self) -> int:
        return 1

    @property
    def is_trained(self) -> bool:
        return self.index is not None and self.index.is_trained

    def factory(self, n: int) -> str:
        raise NotImplementedError

    def train(self, x: np.ndarray) -> None:
        index = faiss.index_factory(self.spec.dim, self.factory(len(x)), self.metric)
        cap = self.settings.max_train_vectors
        sample = x if len(x) <= cap else x[np.random.default_rng(0).choice(len(x), cap, replace=False)]
        index.train(np.ascontiguousarray(sample))
        self.index = index
        self.trained_on = len(x)

    def refine_factor(self, knobs: SearchKnobs) -> int:
        if self.exact_scores:
            return 1
        return knobs.refine_factor or self.params.get("refine_factor", self.settings.refine_factor)


class IvfMixin:
    """IVF kinds also keep, per list, the largest distance from its centroid to a vector added to
    it (``radii``, in the IVF's own space), so range / threshold search can visit exactly the lists
    whose bound can still qualify -- distance to the centroid minus the radius for l2, inner
    product with the centroid plus |q| x radius for ip -- and so miss nothing (issue 16). Vectors
    are assigned to lists by this class (FAISS ``add_core`` with precomputed lists) so the radii
    describe the lists exactly."""

    params: dict
    index: Any
    metric: int
    settings: DBConfig
    _params_for: Callable[[int, Any, Callable[[int], Any]], Any]  # AnnIndex's, which every IVF kind is

    def ivf(self) -> Any:
        """The IndexIVF part (inside the OPQ rotation for opq)."""
        return faiss.extract_index_ivf(self.index)

    def to_ivf_space(self, x: np.ndarray) -> np.ndarray:
        return x

    def _reset_bounds(self) -> None:
        self.radii: np.ndarray | None = None
        self._centroids: np.ndarray | None = None
        self._members: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None

    def centroids(self) -> np.ndarray:
        c = getattr(self, "_centroids", None)
        if c is None:
            ivf = self.ivf()
            c = ivf.quantizer.reconstruct_n(0, ivf.nlist).astype(np.float64)
            self._centroid_norms = np.sqrt(np.einsum("ij,ij->i", c, c))[None, :]
            self._centroids = c
        return c

    def ivf_add(self, x: np.ndarray) -> None:
        """Assign ``x`` to lists, add it with those lists and grow their radii."""
        xi = np.ascontiguousarray(self.to_ivf_space(x), dtype=np.float32)
        ivf = self.ivf()
        _, keys = ivf.quantizer.search(xi, 1)
        keys = np.ascontiguousarray(keys[:, 0], dtype=np.int64)
        ids = np.arange(ivf.ntotal, ivf.ntotal + len(xi), dtype=np.int64)
        ivf.add_core(len(xi), faiss.swig_ptr(xi), faiss.swig_ptr(ids), faiss.swig_ptr(keys))
        self.index.ntotal = ivf.ntotal  # the OPQ wrapper counts its vectors too
        if getattr(self, "radii", None) is None:
            self.radii = np.zeros(ivf.nlist, np.float64)
        self._grow_radii(xi, keys)

    def _grow_radii(self, xi: np.ndarray, keys: np.ndarray) -> None:
        c = self.centroids()
        radii = self.radii
        assert radii is not None
        for lo in range(0, len(xi), 8192):  # float64 differences, a block at a time
            part, k = xi[lo: lo + 8192].astype(np.float64), keys[lo: lo + 8192]
            dist = np.sqrt(((part - c[k]) ** 2).sum(axis=1))
            np.maximum.at(radii, k, dist)

    def restore_bounds(self, xb: np.ndarray, alive: np.ndarray) -> None:
        """Radii of a loaded index, from its lists' members (dead slots are left out)."""
        ivf = self.ivf()
        self.radii = np.zeros(ivf.nlist, np.float64)
        for lst in range(ivf.nlist):
            ids = self._list_ids(ivf, lst)
            ids = ids[(ids < len(alive))]
            ids = ids[alive[ids]]
            if len(ids):
                self._grow_radii(np.ascontiguousarray(self.to_ivf_space(xb[ids])), np.full(len(ids), lst, np.int64))

    @staticmethod
    def _list_ids(ivf: Any, lst: int) -> np.ndarray:
        size = ivf.invlists.list_size(lst)
        if size == 0:
            return np.zeros(0, np.int64)
        return faiss.rev_swig_ptr(ivf.invlists.get_ids(lst), size)

    def _csr(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Every list's slots in one array with per-list offsets, cached until the next add (lists
        only grow; a reset or a rebuilt index starts afresh). Built by whichever reader needs it
        first; the tuple is published by one assignment, so concurrent readers at worst both build it."""
        members = getattr(self, "_members", None)
        ivf = self.ivf()
        if members is None or members[0] != ivf.ntotal:
            parts = [self._list_ids(ivf, lst).copy() for lst in range(ivf.nlist)]
            offsets = np.zeros(ivf.nlist + 1, np.int64)
            offsets[1:] = np.cumsum([len(p) for p in parts])
            members = self._members = (int(ivf.ntotal), np.concatenate(parts).astype(np.int64), offsets,
                                       np.diff(offsets))
        return members

    def list_sizes(self) -> np.ndarray:
        return self._csr()[3]

    def members_of(self, lists: np.ndarray) -> np.ndarray:
        """The slots in these lists (a new array)."""
        _, members, offsets, _ = self._csr()
        starts, ends = offsets[lists], offsets[lists + 1]
        lens = ends - starts
        total = int(lens.sum())
        if total == 0:
            return np.zeros(0, np.int64)
        # positions start_l .. end_l - 1 of each list, concatenated, without a Python loop
        pos = np.arange(total) + np.repeat(starts - (np.cumsum(lens) - lens), lens)
        return members[pos]

    def list_members(self, lst: int) -> np.ndarray:
        """The slots in one list."""
        return self._list_ids(self.ivf(), lst).copy()

    def bounds_complete(self) -> bool:
        """Whether the radii cover every vector (of a trained index), so the probe below is exact."""
        return getattr(self, "radii", None) is not None

    def probe(self, q: np.ndarray, bound: float, is_l2: bool) -> np.ndarray:
        """(nq, nlist) bool: the lists each query must visit so that no vector within ``bound``
        (squared distance for l2, similarity for ip) is missed, with a float-rounding margin."""
        c = self.centroids()
        cn = self._centroid_norms
        radii = self.radii
        assert radii is not None
        qi = np.asarray(self.to_ivf_space(q), dtype=np.float64)
        qc = qi @ c.T
        qn = np.sqrt(np.einsum("ij,ij->i", qi, qi))[:, None]
        margin = self.settings.range_rounding_margin
        if is_l2:
            dist = np.sqrt(np.maximum(qn ** 2 + cn ** 2 - 2 * qc, 0.0))
            reach = math.sqrt(max(bound, 0.0))
            return dist - radii[None, :] <= reach + margin * (qn + cn + radii[None, :]) + 1e-6
        return qc + qn * radii[None, :] >= bound - margin * qn * (cn + radii[None, :]) - 1e-6

    def nlist(self, n: int) -> int:
        if "nlist" in self.params:
            return int(self.params["nlist"])
        guess = int(round(self.settings.ivf_nlist_per_sqrt_n * math.sqrt(max(n, 1))))
        return max(1, min(guess, n // self.settings.ivf_min_points_per_list))

    def _ivf_params(self, sel: Any, knobs: SearchKnobs) -> Any:
        nprobe = int(knobs.nprobe or self.params.get("nprobe", self.settings.ivf_nprobe))
        return self._params_for(nprobe, sel, _ivf_search_params)


def _ivf_search_params(nprobe: int) -> Any:
    return faiss.SearchParametersIVF(nprobe=nprobe)


def _pq_shape(spec: VectorField, settings: DBConfig) -> tuple[int, int]:
    return (int(spec.params.get("m", default_pq_m(spec.dim, settings.pq_dims_per_subquantizer))),
            int(spec.params.get("nbits", settings.pq_bits)))


class IvfTrainedIndex(IvfMixin, TrainedIndex):
    """Hooks keeping the radii in step with the index's life (train, add, reset, load)."""

    def __init__(self, spec: VectorField, settings: DBConfig | None = None) -> None:
        super().__init__(spec, settings)
        self._reset_bounds()

    def train(self, x: np.ndarray) -> None:
        super().train(x)
        self._reset_bounds()

    def add(self, x: np.ndarray) -> None:
        self.ivf_add(x)

    def reset(self) -> None:
        self.index.reset()
        self._reset_bounds()

    def load(self, path: Path, trained_on: int) -> None:
        super().load(path, trained_on)
        self._reset_bounds()  # FieldIndex restores the radii from the exact store


class IvfFlatIndex(IvfTrainedIndex):
    def _min_points(self) -> int:
        return self.params.get("nlist", 1) * self.settings.ivf_min_points_per_list

    def factory(self, n: int) -> str:
        return f"IVF{self.nlist(n)},Flat"

    def _search_params(self, k: int, sel: Any, knobs: SearchKnobs) -> Any:
        return self._ivf_params(sel, knobs)


class IvfPqIndex(IvfTrainedIndex):
    exact_scores = False

    def _min_points(self) -> int:
        m, nbits = _pq_shape(self.spec, self.settings)
        return max(self.params.get("nlist", 1), 2**nbits) * self.settings.ivf_min_points_per_list

    def factory(self, n: int) -> str:
        m, nbits = _pq_shape(self.spec, self.settings)
        return f"IVF{self.nlist(n)},PQ{m}x{nbits}np"  # "np": no polysemous training (minutes at 384-d, unused)

    def _search_params(self, k: int, sel: Any, knobs: SearchKnobs) -> Any:
        return self._ivf_params(sel, knobs)


class OpqIndex(IvfPqIndex):
    """OPQ rotation + IVF-PQ. Built by hand rather than by index_factory so the rotation is
    learnt with the codes' own PQ size (FAISS's default trains it with 256 centroids, which needs
    ~10k training vectors) and a configurable number of iterations."""

    def train(self, x: np.ndarray) -> None:
        m, nbits = _pq_shape(self.spec, self.settings)
        dim = self.spec.dim
        opq = faiss.OPQMatrix(dim, m)
        opq.niter = int(self.params.get("opq_niter", self.settings.opq_niter))
        pq = faiss.ProductQuantizer(dim, m, nbits)
        opq.pq = pq
        inner = faiss.index_factory(dim, f"IVF{self.nlist(len(x))},PQ{m}x{nbits}np", self.metric)
        index = faiss.IndexPreTransform(opq, inner)
        cap = self.settings.max_train_vectors
        sample = x if len(x) <= cap else x[np.random.default_rng(0).choice(len(x), cap, replace=False)]
        index.train(np.ascontiguousarray(sample))
        opq.pq = None  # only needed while training; FAISS does not own it
        self.index = index
        self.trained_on = len(x)
        self._reset_bounds()

    def to_ivf_space(self, x: np.ndarray) -> np.ndarray:
        """The learnt rotation (orthonormal: distances and inner products are kept, so the radii
        and bounds computed after it hold for the original vectors)."""
        return faiss.downcast_VectorTransform(self.index.chain.at(0)).apply(np.ascontiguousarray(x, dtype=np.float32))

    def bounds_complete(self) -> bool:
        return super().bounds_complete() and bool(faiss.downcast_VectorTransform(self.index.chain.at(0)).is_orthonormal)

    def _search_params(self, k: int, sel: Any, knobs: SearchKnobs) -> Any:
        p = faiss.SearchParametersPreTransform()
        inner = self._ivf_params(sel, knobs)
        p.index_params = inner
        p._inner = inner  # keep the SWIG object alive as long as the outer one
        return p


class PqIndex(TrainedIndex):
    exact_scores = False
    supports_selector = False  # FAISS IndexPQ accepts no search parameters

    def _min_points(self) -> int:
        return 2 ** _pq_shape(self.spec, self.settings)[1] * self.settings.ivf_min_points_per_list

    def factory(self, n: int) -> str:
        m, nbits = _pq_shape(self.spec, self.settings)
        return f"PQ{m}x{nbits}np"  # "np": no polysemous training (27 s at 384-d for nothing we use)

    def _search_params(self, k: int, sel: Any, knobs: SearchKnobs) -> Any:
        return None


class Sq8Index(TrainedIndex):
    exact_scores = False

    def factory(self, n: int) -> str:
        return "SQ8"


class LshIndex(TrainedIndex):
    exact_scores = False
    supports_selector = False

    def train(self, x: np.ndarray) -> None:
        nbits = self.params.get("nbits", self.settings.lsh_bits_per_dim * self.spec.dim)
        index = faiss.IndexLSH(self.spec.dim, int(nbits), True)
        index.train(np.ascontiguousarray(x[: self.settings.max_train_vectors]))
        self.index = index
        self.trained_on = len(x)

    def refine_factor(self, knobs: SearchKnobs) -> int:
        return knobs.refine_factor or self.params.get("refine_factor", self.settings.lsh_refine_factor)

    def _search_params(self, k: int, sel: Any, knobs: SearchKnobs) -> Any:
        return None


class KdTreeIndex(AnnIndex):
    """scipy's cKDTree over the live slots: exact, for low dimensions. Rebuilt lazily after writes
    (it has no incremental add); cosine works on normalised vectors, where Euclidean order is cosine order."""

    supports_selector = False

    def __init__(self, spec: VectorField, settings: DBConfig | None = None) -> None:
        super().__init__(spec, settings)
        self.tree: Any = None
        self.slots = np.empty(0, dtype=np.int64)
        self.dirty = True
        self.count = 0

    @property
    def is_trained(self) -> bool:
        return True

    @property
    def ntotal(self) -> int:
        return self.count

    def add(self, x: np.ndarray) -> None:
        self.count += len(x)
        self.dirty = True

    def reset(self) -> None:
        self.count = 0
        self.dirty = True
        self.tree = None

    def rebuild(self, xb: np.ndarray, live_slots: np.ndarray) -> None:
        from xmodal._optional import require

        spatial = require("scipy.spatial", "kdtree", package="scipy")
        self.slots = live_slots
        self.tree = spatial.cKDTree(xb[live_slots], leafsize=self.params.get("leaf_size", self.settings.kdtree_leaf_size))
        self.dirty = False

    def search(self, q: np.ndarray, k: int, sel: Any, knobs: SearchKnobs) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self.slots))
        if k == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        dist, idx = self.tree.query(q, k=k)
        dist, idx = np.asarray(dist).reshape(len(q), k), np.asarray(idx).reshape(len(q), k)
        return dist.astype(np.float32) ** 2, self.slots[idx]

    def ball(self, q: np.ndarray, r: float) -> list[np.ndarray]:
        """Exact slots within Euclidean distance ``r`` of each query."""
        return [self.slots[np.asarray(found, dtype=np.int64)] for found in self.tree.query_ball_point(q, r)]

    def save(self, path: Path) -> None:  # rebuilt from the store on open: nothing to save
        return None

    def load(self, path: Path, trained_on: int) -> None:
        return None


KINDS: dict[str, type[AnnIndex]] = {
    "hnsw": HnswIndex,
    "ivf_flat": IvfFlatIndex,
    "ivf_pq": IvfPqIndex,
    "pq": PqIndex,
    "opq": OpqIndex,
    "sq8": Sq8Index,
    "lsh": LshIndex,
    "kdtree": KdTreeIndex,
}


def make_index(spec: VectorField, settings: DBConfig | None = None) -> AnnIndex | None:
    """The approximate index for a field, or None for ``flat`` (the exact store answers).
    ``settings``: the database's, filling in what ``spec.params`` leaves out (M, ef, nprobe...)."""
    cls = KINDS.get(spec.index)
    return cls(spec, settings) if cls is not None else None


def configure_faiss_threads(threads: int) -> None:
    """FAISS's OpenMP pool is one per process: the last database opened sizes it."""
    faiss.omp_set_num_threads(max(1, threads))
