"""The projection model: heads that map frozen tower features into one shared space, and their weight files.

It lives with the encoders (``xmodal-lite`` loads it at every query) and knows nothing of training;
the training package builds and fits it, as open_clip_train sits on open_clip.

Design (LiT-style): the shared space *is* the frozen text tower's space, so text keeps all the
language knowledge of MiniLM / E5 and only images are projected. The image head starts as the
*label bridge* -- ImageNet logits → softmax over the top-k labels → the text embedding of those
label names -- which already knows a little about everything ImageNet covers, and learns a
linear residual on the standardised 1280-d features on top of it. With the residual at zero
the head *is* the label bridge, so training can only move away from it where paired data says
so; that is what keeps held-out folders (never seen in training) working.

The text head is the identity by default; ``text_head="linear"`` learns a near-identity map.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

import numpy as np

from xmodal._optional import require
from xmodal.encoders.heads import WEIGHTS_FORMAT, read_head_weights
from xmodal.encoders.label_bridge import class_text_vectors
from xmodal.errors import InvalidInput, StorageError

__all__ = ["LabelBridge", "label_embeddings", "ImageHead", "TextHead", "LogitScale", "DualHeads", "feature_stats",
           "save_heads", "load_heads"]

torch = require("torch", "models")
nn = torch.nn
F = torch.nn.functional


class LabelBridge(nn.Module):
    """ImageNet logits → softmax over the top-k labels → their names' text embeddings, mixed."""

    def __init__(self, label_embeddings: np.ndarray, topk: int, temperature: float) -> None:
        super().__init__()
        # Trainable: adapting what each ImageNet class "means" in text space generalises to
        # unseen folders better than a residual on raw features, which only covers what it saw.
        self.labels = nn.Parameter(torch.as_tensor(np.asarray(label_embeddings, np.float32)).clone())
        self.register_buffer("labels_init", self.labels.detach().clone())
        self.topk = int(topk)  # training chooses both (TrainConfig); saved weights carry them
        self.temperature = float(temperature)

    def forward(self, logits: "torch.Tensor") -> "torch.Tensor":
        top, idx = (logits / self.temperature).topk(self.topk, dim=1)
        weights = F.softmax(top, dim=1)
        mixed = (weights.unsqueeze(2) * self.labels[idx]).sum(dim=1)
        return F.normalize(mixed, dim=1)


def label_embeddings(tower: str, vocabulary: str = "wordnet") -> np.ndarray:
    """Text-tower embeddings of the 1000 phrased ImageNet classes: the bridge's starting vocabulary
    (the same vectors the ``photo-bridge`` encoder uses, from its cache)."""
    return np.asarray(class_text_vectors(tower, vocabulary), dtype=np.float32)


class ImageHead(nn.Module):
    """``normalize(a · bridge(f) + cap(W · standardise(f) + b))``; W, b start at zero, a at one.

    ``cap`` limits the residual's norm to ``max_residual`` (None: unbounded, the v1 heads). Why: the
    residual is fitted on clip art; on photographs (features far outside that distribution) an
    unbounded residual grew to ~3-6x the bridge's unit norm and swamped it, so the trained model
    ranked photos worse than its own untrained starting point. Bounded, it can only nudge the bridge.
    """

    def __init__(self, in_dim: int, out_dim: int, mean: np.ndarray, std: np.ndarray,
                 bridge: LabelBridge | None = None, max_residual: float | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.max_residual = None if max_residual is None else float(max_residual)
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, np.float32)))
        self.register_buffer("std", torch.as_tensor(np.asarray(std, np.float32)))
        self.residual = nn.Linear(in_dim, out_dim)
        self.bridge = bridge
        if bridge is not None:
            nn.init.zeros_(self.residual.weight)
            self.bridge_weight = nn.Parameter(torch.tensor(1.0))
        else:
            self.register_parameter("bridge_weight", None)
        nn.init.zeros_(self.residual.bias)
        # Dropout on the standardised features: with a few thousand images the 1280x384 residual
        # otherwise memorises the training images within a couple of epochs (TrainConfig.feature_dropout;
        # inactive at inference, so loaded heads need none).
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: "torch.Tensor", logits: "torch.Tensor | None" = None) -> "torch.Tensor":
        z = self.residual(self.dropout((features - self.mean) / self.std))
        if self.max_residual is not None:
            norm = z.norm(dim=1, keepdim=True).clamp(min=max(self.max_residual, 1e-12))
            z = z * (self.max_residual / norm)
        if self.bridge is not None:
            if logits is None:
                raise InvalidInput("this image head uses the label bridge: pass the tower's ImageNet logits too")
            z = z + self.bridge_weight * self.bridge(logits)
        return F.normalize(z, dim=1)


class TextHead(nn.Module):
    """Identity (LiT: the text space is the shared space) or a linear map initialised at identity."""

    def __init__(self, dim: int, kind: str = "identity") -> None:
        super().__init__()
        if kind not in ("identity", "linear"):
            raise InvalidInput(f"text head {kind!r}: expected 'identity' or 'linear'")
        self.kind = kind
        self.linear = nn.Linear(dim, dim) if kind == "linear" else None
        if self.linear is not None:
            with torch.no_grad():
                self.linear.weight.copy_(torch.eye(dim))
                self.linear.bias.zero_()

    def forward(self, features: "torch.Tensor") -> "torch.Tensor":
        return F.normalize(self.linear(features) if self.linear is not None else features, dim=1)


class LogitScale(nn.Module):
    """CLIP's learnable inverse temperature: ``exp(s)`` with ``s`` initialised at ``log(1/T0)``.

    Part of the model (it is saved with the heads: calibration reads it), fitted by the training
    package, which passes its own ``TrainConfig.init_temperature`` / ``max_logit_scale``; the
    defaults are CLIP's (T0 = 0.07, scale capped at 100)."""

    def __init__(self, init_temperature: float = 0.07, max_scale: float = 100.0) -> None:
        super().__init__()
        t0 = init_temperature
        self.max_log = math.log(max_scale)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / t0)))

    def forward(self) -> "torch.Tensor":
        return self.log_scale.clamp(max=self.max_log).exp()


class DualHeads(nn.Module):
    """Both heads plus CLIP's temperature: everything that training changes."""

    def __init__(self, image: ImageHead, text: TextHead, scale: LogitScale | None = None) -> None:
        super().__init__()
        self.image = image
        self.text = text
        self.scale = scale or LogitScale()


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std for standardising tower features (std floored to avoid /0)."""
    x = np.asarray(features, dtype=np.float64)
    return x.mean(axis=0).astype(np.float32), np.maximum(x.std(axis=0), 1e-6).astype(np.float32)


def save_heads(heads: DualHeads, path: str | Path, meta: Mapping[str, object]) -> Path:
    """Write the trained heads as a small .npz (float16 matrices): what ships in the package.

    Label embeddings are stored, so loading needs no pass of the text tower over 1000 names.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = heads.image
    arrays: dict[str, np.ndarray] = {
        "residual_weight": img.residual.weight.detach().cpu().numpy().astype(np.float16),
        "residual_bias": img.residual.bias.detach().cpu().numpy().astype(np.float32),
        "mean": img.mean.cpu().numpy(),
        "std": img.std.cpu().numpy(),
        "logit_scale": np.float32(heads.scale().item()),
    }
    info = dict(meta, format=WEIGHTS_FORMAT, text_head=heads.text.kind, bridge=img.bridge is not None,
                max_residual=img.max_residual)
    if img.bridge is not None:
        arrays["bridge_weight"] = np.float32(img.bridge_weight.item())
        arrays["label_embeddings"] = img.bridge.labels.detach().cpu().numpy().astype(np.float16)
        info.update(bridge_topk=img.bridge.topk, bridge_temperature=img.bridge.temperature)
    if heads.text.linear is not None:
        arrays["text_weight"] = heads.text.linear.weight.detach().cpu().numpy().astype(np.float16)
        arrays["text_bias"] = heads.text.linear.bias.detach().cpu().numpy().astype(np.float32)
    arrays["meta_json"] = np.frombuffer(json.dumps(info, sort_keys=True).encode(), dtype=np.uint8)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path


def load_heads(path: str | Path) -> tuple[DualHeads, dict]:
    """Rebuild heads (in eval mode) and their metadata from a :func:`save_heads` file (for training
    on from them; queries run :class:`xmodal.encoders.heads.NumpyHeads`, without torch)."""
    z, meta = read_head_weights(path)
    w = z["residual_weight"]
    bridge = None
    if meta.get("bridge"):
        if meta.get("bridge_topk") is None or meta.get("bridge_temperature") is None:
            raise StorageError(f"projection weights {str(path)!r} use the label bridge but do not say its "
                               "bridge_topk / bridge_temperature")
        bridge = LabelBridge(z["label_embeddings"].astype(np.float32),
                             topk=meta["bridge_topk"], temperature=meta["bridge_temperature"])
    image = ImageHead(w.shape[1], w.shape[0], z["mean"], z["std"], bridge, meta.get("max_residual"))
    text = TextHead(w.shape[0], meta.get("text_head", "identity"))
    heads = DualHeads(image, text)
    with torch.no_grad():
        image.residual.weight.copy_(torch.as_tensor(w))
        image.residual.bias.copy_(torch.as_tensor(z["residual_bias"]))
        if bridge is not None:
            image.bridge_weight.fill_(float(z["bridge_weight"]))
        if text.linear is not None:
            text.linear.weight.copy_(torch.as_tensor(z["text_weight"]))
            text.linear.bias.copy_(torch.as_tensor(z["text_bias"]))
        heads.scale.log_scale.fill_(float(np.log(z["logit_scale"])))
    return heads.eval(), meta
