"""Diversity of a result list: maximal marginal relevance re-ranking and intra-list diversity.

Nearest-neighbour lists from one profile vector tend to be ten near-copies of the same thing;
MMR (Carbonell & Goldstein, 1998) trades a bounded amount of relevance for coverage of the
user's other interests. Vectors are L2-normalised here so similarities are cosines.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from xmodal.errors import InvalidInput

__all__ = ["mmr", "intra_list_diversity"]


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        raise InvalidInput(f"vectors must be a 2-d array (n, dim), got shape {v.shape}")
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


def mmr(relevance: Sequence[float], vectors: np.ndarray, k: int, lam: float) -> list[int]:
    """Indices of ``k`` items chosen greedily by ``lam * relevance - (1 - lam) * max-sim-to-chosen``.

    ``lam = 1`` reproduces the relevance order exactly; lower values favour items unlike those
    already picked.
    """
    rel = np.asarray(relevance, dtype=np.float64)
    if not 0.0 <= lam <= 1.0:
        raise InvalidInput(f"MMR lambda must lie in [0, 1], got {lam}")
    if k <= 0:
        raise InvalidInput(f"k must be positive, got {k}")
    n = len(rel)
    if n == 0:
        return []
    unit = _unit_rows(vectors)
    if unit.shape[0] != n:
        raise InvalidInput(f"{n} relevance scores but {unit.shape[0]} vectors")
    chosen: list[int] = []
    max_sim = np.full(n, -np.inf)
    available = np.ones(n, dtype=bool)
    for _ in range(min(k, n)):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        gain = lam * rel - (1.0 - lam) * penalty
        gain[~available] = -np.inf
        best = int(np.argmax(gain))
        chosen.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, unit @ unit[best])
    return chosen


def intra_list_diversity(vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance (1 - cos) within a list; 0 for fewer than two items."""
    unit = _unit_rows(vectors)
    n = unit.shape[0]
    if n < 2:
        return 0.0
    sims = unit @ unit.T
    off_diag = sims[~np.eye(n, dtype=bool)]
    return float(np.mean(1.0 - off_diag))
