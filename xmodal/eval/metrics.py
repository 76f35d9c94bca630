"""Ranking metrics from a similarity matrix: the one place Recall@K and median rank are computed.

Both the trainer's per-epoch validation (on cached features) and the evaluator (on any
encoder) call these, so a number in a training log means the same as one in the model card.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from xmodal.config import TrainConfig
from xmodal.errors import InvalidInput


def ranks(similarity: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """1-based rank of the best correct candidate for each query (row).

    ``correct[i, j]`` is True when candidate j answers query i. Ties with wrong candidates count
    half (the expected rank under a random tie-break), so a constant-score encoder gets chance
    numbers rather than perfect ones. Rows without any correct candidate are an input error.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if sim.shape != ok.shape or sim.ndim != 2:
        raise InvalidInput(f"similarity {sim.shape} and correct {ok.shape} must be matrices of the same shape")
    if not ok.any(axis=1).all():
        raise InvalidInput(f"{int((~ok.any(axis=1)).sum())} query row(s) have no correct candidate")
    if not np.isfinite(sim).all():  # NaN compares false with everything: it would rank first
        raise InvalidInput(f"{int((~np.isfinite(sim)).sum())} similarity value(s) are NaN or infinite "
                           "(a diverged model?)")
    best = np.where(ok, sim, -np.inf).max(axis=1, keepdims=True)
    wrong = ~ok
    greater = ((sim > best) & wrong).sum(axis=1)
    ties = ((sim == best) & wrong).sum(axis=1)
    return 1.0 + greater + 0.5 * ties


def recall_at(rank: np.ndarray, ks: Sequence[int] | None = None) -> dict[str, float]:
    """``{"R@1": ..., "R@5": ..., "R@10": ..., "median_rank": ...}`` from per-query ranks."""
    ks = tuple(ks or TrainConfig.recall_ks)
    r = np.asarray(rank, dtype=np.float64)
    if r.size == 0:
        raise InvalidInput("no queries to compute recall over")
    out = {f"R@{k}": float((r <= k).mean()) for k in ks}
    out["median_rank"] = float(np.median(r))
    out["queries"] = int(r.size)
    return out


def retrieval_metrics(similarity: np.ndarray, correct: np.ndarray, ks: Sequence[int] | None = None) -> dict[str, float]:
    return recall_at(ranks(similarity, correct), ks)


def chance_recall(k: int, candidates: int) -> float:
    """Expected R@k of a random ranking with one correct answer among ``candidates``."""
    return min(1.0, k / max(candidates, 1))
