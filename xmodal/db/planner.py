"""The query planner: answer a query batch through the index, by an exact scan of every row, or
by an exact scan of only the rows a filter allows -- whichever a small cost model finds cheapest.

Why: an index is not always the fast path. A range query whose bound reaches most IVF lists, an
HNSW walk that must skip most nodes because a filter allows 1 % of the rows, an SQ8 scan that
decodes every code: each is slower than a plain exact scan (issue 16 measured 2-12x). The planner
compares estimates in nanoseconds from :class:`xmodal.config.PlannerCosts` and picks the smallest,
so no path is meant to be slower than ``exact=True``.

Pure functions: sizes, nprobe, ef, selectivity and the costs are all passed in, so every choice is
unit-tested without building an index (tests/db/test_planner.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from xmodal.config import PlannerCosts

__all__ = ["Path", "INDEX", "EXACT", "SUBSET", "matmul_ns", "WithinShape", "worth_probing", "within_costs",
           "KnnShape", "subset_ns", "filtered_ef", "filtered_nprobe", "index_knn_ns", "knn_costs", "cheapest", "plan_within", "plan_knn"]

Path = Literal["index", "exact", "subset"]
INDEX: Path = "index"  # the approximate index (for range: IVF lists that can still qualify, re-checked exactly)
EXACT: Path = "exact"  # an exact scan of every slot (a filter applied on the way)
SUBSET: Path = "subset"  # an exact scan of the allowed rows only (gathered into one block, or in place)


def matmul_ns(c: PlannerCosts, nq: int, rows: int, dim: int) -> float:
    """A numpy product of ``nq`` queries with ``rows`` x ``dim``: memory-bound for one query,
    compute-bound once a batch re-uses each row enough."""
    if nq <= 0 or rows <= 0:
        return 0.0
    return float(nq) * rows * dim * max(c.gemm_ns, c.gemv_ns / nq)


@dataclass(slots=True)
class WithinShape:
    """What the planner needs to know about one range / threshold batch.

    ``list_sizes`` / ``list_queries``: per IVF list, its rows and how many queries of the batch
    must visit it because its centroid bound can still qualify (None: the index cannot prove
    completeness, so only the exact paths are considered). The index path scans the union of the
    visited lists exactly."""

    nq: int
    dim: int
    rows: int  # slots an exact scan reads (live rows and tombstones)
    dead: int  # tombstones among them (the exact scan then gathers the live rows)
    allowed: int | None = None  # rows the filter allows (None: no filter)
    subset_ready: bool = False  # the allowed rows are already gathered (cached with the filter)
    batch: bool = True  # enough queries for the numpy path (else FAISS's range search per query)
    list_sizes: np.ndarray | None = None
    list_queries: np.ndarray | None = None


def _scan_ns(c: PlannerCosts, nq: int, rows: int, dim: int, batch: bool) -> float:
    return matmul_ns(c, nq, rows, dim) if batch else float(nq) * rows * dim * c.faiss_flat_ns


def worth_probing(s: WithinShape, c: PlannerCosts) -> bool:
    """Whether probing the IVF bounds can pay for itself: the index can at best save the whole
    exact scan, and probing plus planning costs ``plan_ns`` whatever it finds."""
    return min(within_costs(s, c).values()) > c.probe_payoff * c.plan_ns


def within_costs(s: WithinShape, c: PlannerCosts) -> dict[Path, float]:
    """Estimated nanoseconds of each path able to answer the batch (a missing path cannot)."""
    out: dict[Path, float] = {}
    if s.allowed is None:
        gather = s.rows - s.dead if s.dead else 0
        out[EXACT] = _scan_ns(c, s.nq, s.rows - s.dead, s.dim, s.batch) + gather * s.dim * c.gather_ns
    else:
        subset_gather = 0.0 if s.subset_ready else s.allowed * s.dim * c.gather_ns
        out[SUBSET] = subset_gather + _scan_ns(c, s.nq, s.allowed, s.dim, s.batch)
        if not s.batch:  # FAISS's range search over every slot with a selector: no gather
            out[EXACT] = _scan_ns(c, s.nq, s.rows, s.dim, False)
    if s.list_sizes is not None and s.list_queries is not None:
        # The rows of every list some query must visit are gathered once and scanned exactly.
        union = int(s.list_sizes[s.list_queries > 0].sum())
        out[INDEX] = union * s.dim * c.gather_ns + _scan_ns(c, s.nq, union, s.dim, s.batch) + c.call_ns
    return out


@dataclass(slots=True)
class KnnShape:
    """What the planner needs to know about one filtered k-NN batch and the field's index."""

    nq: int
    dim: int
    k: int
    rows: int  # slots in the field (live rows and tombstones)
    allowed: int  # rows the filter allows
    kind: str  # index kind (see xmodal.db.api.INDEX_KINDS)
    subset_ready: bool = False
    batch: bool = True
    # A filter seen once, a few queries, its block within the gather budget: the subset scan reads
    # the rows in place (no gather). Over the budget the arena's map is released as rows are read,
    # so they fault in again at every call: costed as a gather (measured: flat at 50 % allowed ran
    # at half the rate of the exact scan with a selector when costed as in place).
    in_place: bool = False
    ef: int = 64  # hnsw
    M: int = 32  # hnsw
    nlist: int = 1  # ivf kinds
    nprobe: int = 1  # ivf kinds
    pq_m: int = 8  # pq kinds: sub-quantizers
    refine: int = 1  # candidates re-ranked exactly per result


def filtered_ef(ef: int, k: int, allowed: int, rows: int, c: PlannerCosts) -> int:
    """The ef a filtered HNSW search runs with: wide enough that its beam still expects
    ``hnsw_filter_candidates_per_k`` x k allowed nodes (never below the ef asked for)."""
    share = max(allowed, 1) / max(rows, 1)
    return max(ef, k, int(math.ceil(c.hnsw_filter_candidates_per_k * k / share)))


def filtered_nprobe(nprobe: int, k: int, allowed: int, rows: int, nlist: int, c: PlannerCosts) -> int:
    """The nprobe a filtered IVF search runs with: as many allowed rows probed as the unfiltered
    search would probe rows (nprobe / allowed share), and at least ``ivf_filter_candidates_per_k``
    x k of them; never below the nprobe asked for, never above nlist. Why: the k-th allowed
    neighbour lies as far out as the (k / share)-th neighbour overall. Measured at 50k x 384 with
    nprobe 16 of 158 lists and 10 % allowed, the plain nprobe found recall@10 0.77-0.80."""
    nlist = max(nlist, 1)
    share = max(allowed, 1) / max(rows, 1)
    need = max(nprobe / share, c.ivf_filter_candidates_per_k * k * nlist / max(allowed, 1))
    return max(1, min(nlist, max(nprobe, int(math.ceil(need - 1e-9)))))


def index_knn_ns(s: KnnShape, c: PlannerCosts) -> float:
    """Estimated nanoseconds for the index to answer the filtered batch (inf: it cannot)."""
    share = max(s.allowed, 1) / max(s.rows, 1)
    rerank = s.k * s.refine * s.dim * c.gather_ns
    if s.kind == "hnsw":
        ef = filtered_ef(s.ef, s.k, s.allowed, s.rows, c)
        per = ef * s.M * s.dim * c.hnsw_ns * share ** -c.hnsw_filter_exponent
    elif s.kind in ("ivf_flat", "ivf_pq", "opq"):
        # nprobe scaled to the filter; the selector skips disallowed rows before any distance
        lists = filtered_nprobe(s.nprobe, s.k, s.allowed, s.rows, s.nlist, c)
        scanned = lists * s.rows / max(s.nlist, 1)
        per = s.nlist * s.dim * c.faiss_flat_ns + scanned * c.selector_ns
        if s.kind == "ivf_flat":
            per += scanned * share * s.dim * c.ivf_flat_ns
        else:
            per += scanned * share * s.pq_m * c.pq_code_ns + rerank + lists * c.pq_list_ns
            if s.kind == "opq":
                per += s.dim * s.dim * c.gemv_ns
    elif s.kind == "sq8":
        per = s.rows * s.dim * c.sq8_ns + rerank
    elif s.kind == "pq":  # no selector: over-fetches k / share candidates
        per = s.rows * s.pq_m * c.pq_code_ns + rerank / share
    elif s.kind == "lsh":  # no selector either; its codes are cheap but the re-rank is wide
        per = s.rows * s.dim * c.faiss_flat_ns / 8 + rerank / share
    elif s.kind == "kdtree":
        per = s.k / share * s.dim * c.kdtree_ns
    else:
        return math.inf
    return float(s.nq) * (per + c.index_query_ns)


def subset_ns(s: KnnShape, c: PlannerCosts) -> float:
    """The subset scan: over the gathered block when it is kept, over the rows read in place for a
    filter seen once (``in_place``), else over a block gathered for this call."""
    scan = float(s.nq) * s.allowed * s.dim
    if s.subset_ready:
        return scan * c.faiss_flat_ns
    if s.in_place:
        return scan * c.by_idx_ns
    return s.allowed * s.dim * c.gather_ns + scan * c.faiss_flat_ns


def knn_costs(s: KnnShape, c: PlannerCosts) -> dict[Path, float]:
    """Estimated nanoseconds of each path for a filtered k-NN batch."""
    out: dict[Path, float] = {SUBSET: subset_ns(s, c)}
    if not s.batch:  # one query: FAISS's flat scan with a selector reads every slot, gathers nothing
        out[EXACT] = float(s.nq) * s.rows * s.dim * c.faiss_flat_ns
    index = index_knn_ns(s, c)
    if math.isfinite(index):
        out[INDEX] = index
    return out


def cheapest(costs: dict[Path, float]) -> Path:
    """The path with the smallest estimate; ties go to the exact paths (they are never wrong)."""
    best: Path | None = None
    for path in (SUBSET, EXACT, INDEX):  # preference order on ties
        cost = costs.get(path)
        if cost is not None and (best is None or cost < costs[best]):
            best = path
    assert best is not None, "no path can answer"
    return best


def plan_within(s: WithinShape, c: PlannerCosts) -> Path:
    return cheapest(within_costs(s, c))


def plan_knn(s: KnnShape, c: PlannerCosts) -> Path:
    return cheapest(knn_costs(s, c))
