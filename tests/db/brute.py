"""Exact answers computed the obvious way, to judge the database against."""
from __future__ import annotations

import numpy as np


def prepared(x: np.ndarray, metric: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if metric == "cosine":
        return x / np.linalg.norm(x, axis=-1, keepdims=True)
    return x


def scores(q: np.ndarray, x: np.ndarray, metric: str) -> np.ndarray:
    """(nq, n) user-facing scores: Euclidean distance for l2, similarity for cosine / ip."""
    q, x = prepared(np.atleast_2d(q), metric), prepared(x, metric)
    if metric == "l2":
        return np.sqrt(((q[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    return q @ x.T


def knn(q: np.ndarray, x: np.ndarray, ids: list, k: int, metric: str) -> list[list]:
    s = scores(q, x, metric)
    order = np.argsort(s if metric == "l2" else -s, axis=1, kind="stable")[:, :k]
    return [[ids[j] for j in row] for row in order]


def recall(got: list[list], truth: list[list]) -> float:
    hit = sum(len(set(g) & set(t)) for g, t in zip(got, truth))
    return hit / max(1, sum(len(t) for t in truth))


def clustered(rng: np.random.Generator, n: int, dim: int, centres: int = 20) -> np.ndarray:
    """Gaussian clusters, like real embeddings (uniform noise makes every ANN index look bad)."""
    c = rng.standard_normal((centres, dim)) * 3
    return (c[rng.integers(0, centres, n)] + rng.standard_normal((n, dim))).astype(np.float32)
