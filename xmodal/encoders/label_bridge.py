"""The label bridge: the simplest way to put pictures in a text space without any training.

An image becomes the probability-weighted mean of the text embeddings of its top ImageNet labels
("a photo of a tabby"), plus the embedding of any text it contains (OCR); texts go through the
same text tower. It is the baseline the trained ``xmodal-lite`` heads must beat.
"""
from __future__ import annotations

import hashlib
import threading

import numpy as np

from xmodal.config import CONFIG, cache_dir
from xmodal.encoders.base import AUDIO, IMAGE, TEXT, BaseEncoder, l2_normalise, softmax
from xmodal.encoders.towers import TEXT_FEATURE_DIM, image_tower, imagenet_classes, text_tower

_CLASS_LOCK = threading.Lock()
_CLASS_VECTORS: dict[str, np.ndarray] = {}


def class_text_vectors(tower_name: str) -> np.ndarray:
    """(1000, 384) text embeddings of the phrased ImageNet labels, computed once and cached on disk."""
    template = CONFIG.encoders.label_bridge_template
    phrases = [template.format(name) for name in imagenet_classes()]
    digest = hashlib.sha256(("\n".join(phrases) + tower_name).encode()).hexdigest()[:16]
    with _CLASS_LOCK:
        if digest in _CLASS_VECTORS:
            return _CLASS_VECTORS[digest]
        path = cache_dir() / "label-bridge" / f"{tower_name}-{digest}.npy"
        vectors = None
        if path.exists():
            try:
                vectors = np.load(path)
            except (OSError, ValueError):
                vectors = None  # a damaged cache file is recomputed
            if vectors is not None and vectors.shape != (len(phrases), TEXT_FEATURE_DIM):
                vectors = None
        if vectors is None:  # once per machine: ~1000 sentences, worth a progress bar on a terminal
            from xmodal.progress import progress

            tower, step = text_tower(tower_name), CONFIG.encoders.text_batch_size
            parts = []
            with progress(None) as bar:
                task = bar.add_task("labels", total=len(phrases))
                for i in range(0, len(phrases), step):
                    parts.append(tower.features(phrases[i:i + step], mode="passage"))
                    bar.advance(task, len(parts[-1]))
            vectors = np.concatenate(parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, vectors)
            tmp.replace(path)
        _CLASS_VECTORS[digest] = vectors
        return vectors


class LabelBridgeEncoder(BaseEncoder):
    name = "label-bridge"
    text_tower_name = "minilm"
    dim = TEXT_FEATURE_DIM
    modalities = frozenset({TEXT, IMAGE, AUDIO})

    def __init__(self, ocr: bool | None = None):
        self.use_ocr = CONFIG.encoders.label_bridge_ocr if ocr is None else ocr
        self.text = text_tower(self.text_tower_name)
        self.image = image_tower()
        self.class_vectors = class_text_vectors(self.text_tower_name)

    def _encode_text(self, texts: list[str], mode: str) -> np.ndarray:
        return self.text.features(texts, mode=mode)

    def label_weights(self, logits: np.ndarray) -> np.ndarray:
        """(n, 1000) weights: top-k probabilities above the floor (the top label always kept),
        renormalised to sum to 1."""
        cfg = CONFIG.encoders
        probs = softmax(logits)
        weights = np.zeros_like(probs)
        top = np.argsort(-probs, axis=1)[:, :cfg.label_bridge_topk]
        for i, row in enumerate(top):
            keep = [j for j in row if probs[i, j] >= cfg.label_bridge_min_prob] or [row[0]]
            weights[i, keep] = probs[i, keep]
        return weights / weights.sum(axis=1, keepdims=True)

    def _encode_image(self, images: list) -> np.ndarray:
        _, logits = self.image.features_and_logits(images)
        vectors = l2_normalise(self.label_weights(logits) @ self.class_vectors)
        if self.use_ocr:
            from xmodal.media import ocr_many

            texts = [" ".join(t.split()) for t in ocr_many(images)]
            with_text = [i for i, t in enumerate(texts) if t]
            if with_text:
                text_vecs = self.text.features([texts[i] for i in with_text], mode="passage")
                vectors[with_text] += CONFIG.encoders.label_bridge_ocr_weight * text_vecs
        return vectors


class LabelBridgeMultilingualEncoder(LabelBridgeEncoder):
    """Same bridge over multilingual-e5: queries in ~100 languages reach English-labelled images."""

    name = "label-bridge-multilingual"
    text_tower_name = "e5-multilingual"
