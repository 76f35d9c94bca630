"""The query planner's cost model on its own: every input injected, nothing built."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmodal.config import PlannerCosts
from xmodal.db.planner import (EXACT, INDEX, SUBSET, KnnShape, WithinShape, filtered_ef, filtered_nprobe, index_knn_ns, knn_costs,
                               plan_knn, plan_within, within_costs, worth_probing)

C = PlannerCosts()
N, DIM = 200_000, 384


def lists(nlist: int, visited: int, nq: int) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.full(nlist, N // nlist)
    queries = np.zeros(nlist, np.int64)
    queries[:visited] = nq
    return sizes, queries


def test_range_without_a_completeness_proof_is_exact():
    assert plan_within(WithinShape(nq=100, dim=DIM, rows=N, dead=0), C) == EXACT
    assert set(within_costs(WithinShape(nq=1, dim=DIM, rows=N, dead=0), C)) == {EXACT}


def test_range_uses_the_ivf_lists_when_few_can_qualify():
    sizes, queries = lists(450, 3, 1)
    assert plan_within(WithinShape(nq=1, dim=DIM, rows=N, dead=0, batch=False,
                                   list_sizes=sizes, list_queries=queries), C) == INDEX


def test_range_scans_exactly_when_the_bound_reaches_most_lists():
    """Gaussian data in 384-d: every centroid bound qualifies, the index can only lose."""
    for nq, batch in ((1, False), (100, True)):
        sizes, queries = lists(450, 450, nq)
        shape = WithinShape(nq=nq, dim=DIM, rows=N, dead=0, batch=batch, list_sizes=sizes, list_queries=queries)
        assert plan_within(shape, C) == EXACT


def test_range_index_cost_follows_the_union_of_visited_lists():
    sizes, one = lists(450, 30, 1)
    _, many = lists(450, 30, 100)
    a = within_costs(WithinShape(nq=1, dim=DIM, rows=N, dead=0, batch=False, list_sizes=sizes, list_queries=one), C)
    b = within_costs(WithinShape(nq=100, dim=DIM, rows=N, dead=0, list_sizes=sizes, list_queries=many), C)
    assert b[INDEX] > a[INDEX]
    assert b[INDEX] / b[EXACT] < 0.2  # 30 of 450 lists: far cheaper than a full scan for a batch too


def test_filtered_range_scans_a_small_subset():
    assert plan_within(WithinShape(nq=100, dim=DIM, rows=N, dead=0, allowed=2_000), C) == SUBSET
    # one query over a big allowed set: FAISS with a selector beats gathering 150k rows first
    assert plan_within(WithinShape(nq=1, dim=DIM, rows=N, dead=0, allowed=150_000, batch=False), C) == EXACT
    # ... unless the gathered rows are already cached with the filter
    assert plan_within(WithinShape(nq=1, dim=DIM, rows=N, dead=0, allowed=150_000, batch=False,
                                   subset_ready=True), C) == SUBSET


def test_filtered_knn_small_allowed_share_is_scanned_exactly():
    """The filter cliff of issue 16: at 1 % the HNSW walk is ~constant work, the subset tiny."""
    shape = KnnShape(nq=100, dim=DIM, k=10, rows=N, allowed=N // 100, kind="hnsw")
    assert plan_knn(shape, C) == SUBSET


def test_filtered_knn_loose_filter_goes_through_the_graph():
    shape = KnnShape(nq=100, dim=DIM, k=10, rows=N, allowed=N // 2, kind="hnsw", ef=64, M=32)
    assert plan_knn(shape, C) == INDEX


def test_filtered_ivf_probes_enough_lists_for_k_allowed_rows():
    """nprobe grows with 1 / allowed share, and so the probed lists hold at least
    ivf_filter_candidates_per_k x k allowed rows."""
    assert filtered_nprobe(16, 10, N, N, 450, C) == 16  # no filter: as asked
    assert filtered_nprobe(16, 10, N // 2, N, 450, C) == 32  # half the rows: twice the lists
    wide = filtered_nprobe(1, 10, N // 200, N, 450, C)  # 0.5 %: 1,000 allowed rows
    assert wide == max(200, math.ceil(C.ivf_filter_candidates_per_k * 10 * 450 / (N // 200)))
    assert wide * (N / 450) * (1 / 200) >= C.ivf_filter_candidates_per_k * 10  # expected allowed rows seen
    assert filtered_nprobe(4, 10, 3, N, 450, C) == 450  # never more lists than there are
    assert filtered_nprobe(500, 10, N, N, 450, C) == 450


def test_filtered_ivf_cost_follows_the_widened_probe():
    """A tight filter makes the probe wider (dearer per query) but its rows cheap to skip; the
    planner still has the index path to weigh, and brute force over a tiny subset wins."""
    tight = KnnShape(nq=1, dim=DIM, k=10, rows=N, allowed=N // 1000, kind="ivf_flat", nlist=450, nprobe=4,
                     batch=False)
    loose = KnnShape(nq=1, dim=DIM, k=10, rows=N, allowed=N // 2, kind="ivf_flat", nlist=450, nprobe=16,
                     batch=False)
    assert math.isfinite(index_knn_ns(tight, C)) and math.isfinite(index_knn_ns(loose, C))
    assert plan_knn(tight, C) == SUBSET
    assert plan_knn(loose, C) == INDEX


def test_sq8_with_a_filter_never_beats_the_exact_scan():
    """SQ8 decodes every code: as slow as a flat scan plus a re-rank."""
    for share in (0.01, 0.1, 0.5, 1.0):
        for nq, batch in ((1, False), (100, True)):
            shape = KnnShape(nq=nq, dim=DIM, k=10, rows=N, allowed=int(N * share), kind="sq8", refine=4, batch=batch)
            assert plan_knn(shape, C) != INDEX


def test_an_unknown_or_flat_kind_has_no_index_path():
    assert INDEX not in knn_costs(KnnShape(nq=1, dim=DIM, k=10, rows=N, allowed=N, kind="flat"), C)


def test_ties_go_to_the_exact_paths():
    free = PlannerCosts(faiss_flat_ns=0, gemm_ns=0, gemv_ns=0, gather_ns=0, hnsw_ns=0, call_ns=0, by_idx_ns=0)
    assert plan_knn(KnnShape(nq=1, dim=DIM, k=10, rows=N, allowed=N, kind="hnsw", batch=False), free) == SUBSET


@given(nq=st.integers(1, 500), allowed=st.integers(1, N), kind=st.sampled_from(
    ["hnsw", "ivf_flat", "ivf_pq", "opq", "sq8", "pq", "lsh", "kdtree"]), ready=st.booleans())
def test_the_choice_is_never_costlier_than_an_exact_path(nq, allowed, kind, ready):
    shape = KnnShape(nq=nq, dim=DIM, k=10, rows=N, allowed=allowed, kind=kind, subset_ready=ready,
                     batch=nq >= 8, nlist=450, nprobe=16)
    costs = knn_costs(shape, C)
    chosen = plan_knn(shape, C)
    assert costs[chosen] <= min(v for p, v in costs.items() if p != INDEX)


@given(visited=st.integers(0, 450), nq=st.integers(1, 300))
def test_range_cost_grows_with_the_lists_visited(visited, nq):
    a = within_costs(WithinShape(nq=nq, dim=DIM, rows=N, dead=0, batch=nq >= 8,
                                 list_sizes=lists(450, visited, nq)[0], list_queries=lists(450, visited, nq)[1]), C)
    b = within_costs(WithinShape(nq=nq, dim=DIM, rows=N, dead=0, batch=nq >= 8,
                                 list_sizes=lists(450, min(visited + 1, 450), nq)[0],
                                 list_queries=lists(450, min(visited + 1, 450), nq)[1]), C)
    assert b[INDEX] >= a[INDEX] and a[EXACT] == b[EXACT]


def test_filtered_hnsw_widens_its_beam_and_pays_for_it():
    """At 10 % allowed an ef-64 beam holds ~6 allowed nodes for k=10: ef grows to keep 2k."""
    assert filtered_ef(64, 10, 100, 100, C) == 64  # no filter: as asked
    assert filtered_ef(64, 10, 10, 100, C) == 200
    assert filtered_ef(500, 10, 10, 100, C) == 500  # never below the ef asked for
    loose = index_knn_ns(KnnShape(nq=1, dim=DIM, k=10, rows=N, allowed=N // 2, kind="hnsw"), C)
    tight = index_knn_ns(KnnShape(nq=1, dim=DIM, k=10, rows=N, allowed=N // 10, kind="hnsw"), C)
    assert tight > 3 * loose


def test_small_scans_are_not_worth_probing():
    """50k x 32, one query: the exact scan (~0.7 ms) is too cheap to spend a probe on; at 384-d or
    for a batch it is not."""
    assert not worth_probing(WithinShape(nq=1, dim=32, rows=50_000, dead=0, batch=False), C)
    assert worth_probing(WithinShape(nq=1, dim=384, rows=50_000, dead=0, batch=False), C)
    assert worth_probing(WithinShape(nq=100, dim=32, rows=50_000, dead=0), C)


def test_a_filter_seen_once_is_costed_in_place_not_gathered():
    """Issue 16: a one-off filter's rows are scanned where they lie; costing a gather it will not
    do sent 1 % filters to slower paths. Over the gather budget it is costed as a gather again."""
    once = KnnShape(nq=1, dim=DIM, k=10, rows=N, allowed=N // 100, kind="flat", batch=False, in_place=True)
    gathered = KnnShape(nq=1, dim=DIM, k=10, rows=N, allowed=N // 100, kind="flat", batch=False)
    assert knn_costs(once, C)[SUBSET] < knn_costs(gathered, C)[SUBSET]
    assert knn_costs(once, C)[SUBSET] == N // 100 * DIM * C.by_idx_ns
    assert plan_knn(once, C) == SUBSET


@pytest.mark.parametrize("batch", [False, True])
def test_filtered_ivf_pq_takes_the_subset_scan_at_10_percent(batch):
    """Issue 16, measured at 50k x 384 (m 48, 224 lists): at 1-10 % allowed the index path ran
    4-11x slower than the subset scan (it probes most lists to find k allowed rows); at 50 %
    allowed it ran 7-10x faster than gathering the rows."""
    nq = 100 if batch else 1
    shape = dict(nq=nq, dim=384, k=10, rows=50_000, kind="ivf_pq", nlist=224, nprobe=16, pq_m=48, refine=4,
                 batch=batch)
    for allowed in (477, 5_002):
        assert plan_knn(KnnShape(allowed=allowed, subset_ready=True, **shape), C) == SUBSET
        assert plan_knn(KnnShape(allowed=allowed, in_place=not batch, **shape), C) == SUBSET
    assert plan_knn(KnnShape(allowed=24_885, **shape), C) == INDEX  # over the gather budget
