"""The trained projection heads at inference time, in numpy: what ``xmodal-lite`` runs per query.

Why not the torch modules of :mod:`xmodal.encoders.projection`: importing torch alone costs a
cold ``xmodal search`` about 1.6 s, and at inference the heads are a few matrix products. The
torch modules stay the training-time definition (autograd, dropout, the saved format); this is the
same forward pass in eval mode, checked against them in ``tests/encoders/test_fast_query.py``.
Both read the weight file through :func:`read_head_weights`, so the format has one reader.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.errors import InvalidInput, StorageError

__all__ = ["WEIGHTS_FORMAT", "NORM_EPS", "read_head_weights", "NumpyHeads"]

WEIGHTS_FORMAT = 1
# torch.nn.functional.normalize's floor on the norm (the heads were trained with it).
NORM_EPS = 1e-12


def read_head_weights(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays (float32) and metadata of a ``save_heads`` file; StorageError names a bad file."""
    path = Path(path)
    try:
        with np.load(path) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise StorageError(f"projection weights {str(path)!r} cannot be read ({exc})") from exc
    if "meta_json" not in arrays or "residual_weight" not in arrays:
        raise StorageError(f"projection weights {str(path)!r} are not a projection-heads file "
                           "(no meta_json / residual_weight)")
    meta = json.loads(bytes(arrays.pop("meta_json")).decode())
    if meta.get("format") != WEIGHTS_FORMAT:
        raise StorageError(f"projection weights {str(path)!r} have format {meta.get('format')!r}, "
                           f"this xmodal reads {WEIGHTS_FORMAT}")
    return {k: v.astype(np.float32) for k, v in arrays.items()}, meta


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), NORM_EPS)


@dataclass
class NumpyHeads:
    """``text(features)`` and ``image(features, logits)`` as the trained heads compute them (eval mode)."""

    residual_weight: np.ndarray  # (out, in)
    residual_bias: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    max_residual: float | None = None
    labels: np.ndarray | None = None  # label bridge: (1000, out) class embeddings
    bridge_weight: float = 1.0
    bridge_topk: int = 0
    bridge_temperature: float = 1.0
    text_weight: np.ndarray | None = None  # linear text head; None: identity
    text_bias: np.ndarray | None = None

    @classmethod
    def load(cls, path: str | Path) -> tuple["NumpyHeads", dict]:
        """Heads and metadata from a weights file (see :func:`read_head_weights`)."""
        a, meta = read_head_weights(path)
        bridge = bool(meta.get("bridge"))
        if bridge and ("label_embeddings" not in a or not meta.get("bridge_topk") or not meta.get("bridge_temperature")):
            raise StorageError(f"projection weights {str(path)!r} declare a label bridge but lack its "
                               "label_embeddings / bridge_topk / bridge_temperature")
        linear = meta.get("text_head", "identity") == "linear"
        heads = cls(a["residual_weight"], a["residual_bias"], a["mean"], a["std"],
                    None if meta.get("max_residual") is None else float(meta["max_residual"]),
                    a["label_embeddings"] if bridge else None,
                    float(a["bridge_weight"]) if bridge else 1.0,
                    int(meta["bridge_topk"]) if bridge else 0,
                    float(meta["bridge_temperature"]) if bridge else 1.0,
                    a["text_weight"] if linear else None, a["text_bias"] if linear else None)
        return heads, meta

    def text(self, features: np.ndarray) -> np.ndarray:
        """Text-tower features (n, d) -> the shared space (identity or the learned linear map)."""
        x = np.asarray(features, np.float32)
        if self.text_weight is not None:
            x = x @ self.text_weight.T + self.text_bias
        return _normalise(x).astype(np.float32)

    def bridge(self, logits: np.ndarray) -> np.ndarray:
        """ImageNet logits -> softmax over the top-k labels -> their embeddings mixed, normalised."""
        z = np.asarray(logits, np.float32) / self.bridge_temperature
        k = min(self.bridge_topk, z.shape[1])
        idx = np.argpartition(-z, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(z, idx, axis=1)
        w = np.exp(top - top.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        return _normalise(np.einsum("nk,nkd->nd", w, self.labels[idx]))

    def image(self, features: np.ndarray, logits: np.ndarray | None = None) -> np.ndarray:
        """Image-tower features (and logits, for the label bridge) -> the shared space."""
        f = np.asarray(features, np.float32)
        z = ((f - self.mean) / self.std) @ self.residual_weight.T + self.residual_bias
        if self.max_residual is not None:
            norm = np.maximum(np.linalg.norm(z, axis=1, keepdims=True), max(self.max_residual, NORM_EPS))
            z = z * (self.max_residual / norm)
        if self.labels is not None:
            if logits is None:
                raise InvalidInput("this image head uses the label bridge: pass the tower's ImageNet logits too")
            z = z + self.bridge_weight * self.bridge(logits)
        return _normalise(z).astype(np.float32)
