"""Reciprocal-rank fusion: one ranking from several lists whose scores are not comparable
(cosine in image space, cosine in text space, BM25), using ranks only (Cormack et al., 2009)."""
from __future__ import annotations

from typing import Hashable, Mapping, Sequence

from xmodal.config import IngestConfig

__all__ = ["rrf"]


def rrf(rankings: Mapping[str, Sequence[Hashable]], weights: Mapping[str, float] | None = None,
        k: int = IngestConfig.rrf_k) -> list[tuple[Hashable, float]]:
    """Fuse named ranked lists of keys (best first) into ``[(key, score)]`` best first.

    A key's score is the sum over lists of ``weight / (k + rank)`` with rank starting at 1; ties
    keep the order of first appearance so results are deterministic. ``k``: the library's
    ``settings.ingest.rrf_k`` (larger flattens the weight of the top ranks).
    """
    scores: dict[Hashable, float] = {}
    for name, keys in rankings.items():
        w = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, key in enumerate(keys, 1):
            scores[key] = scores.get(key, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])
