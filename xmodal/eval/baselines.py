"""Reference encoders that anchor the numbers: what "no knowledge at all" scores on a set."""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from xmodal.config import TrainConfig
from xmodal.media.images import load_image


class RandomEncoder:
    """Deterministic random unit vectors per input: the chance line of every table.

    Vectors depend on the content (text, or the image's pixels), so two runs give the same
    numbers and identical inputs map to identical vectors, as for a real encoder.
    """

    name = "random"
    modalities = frozenset({"text", "image"})

    def __init__(self, dim: int = 384, seed: int | None = None) -> None:
        self.dim = dim
        self.seed = TrainConfig.seed if seed is None else seed

    def _vector(self, digest: bytes) -> np.ndarray:
        rng = np.random.default_rng([self.seed, int.from_bytes(digest[:8], "little")])
        v = rng.standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode_text(self, texts: Sequence[str], mode: str = "query") -> np.ndarray:
        return np.stack([self._vector(hashlib.sha1(t.encode("utf-8")).digest()) for t in texts])

    def encode_image(self, images: Sequence) -> np.ndarray:
        return np.stack([self._vector(hashlib.sha1(load_image(im).tobytes()).digest()) for im in images])
