"""``xmodal-lite``: frozen towers + trained projection heads → one shared, L2-normalised space.

Texts go through the frozen text tower (MiniLM for ``xmodal-lite``, multilingual-E5 for
``xmodal-lite-multilingual``) and stay in its space; images go through EfficientNet-Lite0 and
the trained image head (label bridge + learned residual, see :mod:`xmodal.encoders.projection`) into
that same space; audio is transcribed and then encoded as text. The heads are a small ``.npz``
shipped in ``xmodal/encoders/weights`` and produced by ``make train``; a user's own training run
(``xmodal train --out DIR``) loads with ``XmodalLite(weights="DIR/model.npz")``.

A text query touches only the text tower and the numpy heads (:mod:`xmodal.encoders.heads`): the
image tower loads on the first image, so ``xmodal search "..."`` never imports torch.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from xmodal.config import Config
from xmodal.encoders.base import AUDIO, IMAGE, TEXT, BaseEncoder, l2_normalise
from xmodal.encoders.heads import NumpyHeads
from xmodal.encoders.label_bridge import detection_phrases
from xmodal.encoders.towers import TEXT_FEATURE_DIM, ImageTower, image_tower, text_tower
from xmodal.errors import NotFound

__all__ = ["WEIGHTS_DIR", "XmodalLite", "XmodalLiteV1", "XmodalLiteMultilingual", "XmodalLiteMultilingualV1"]

WEIGHTS_DIR = Path(__file__).with_name("weights")


class XmodalLite(BaseEncoder):
    """Images + English text (MiniLM space); ``weights`` overrides the shipped projection file."""

    name = "xmodal-lite"
    weights_file = "xmodal-lite.npz"
    default_text_tower = "minilm"
    dim = TEXT_FEATURE_DIM
    modalities = frozenset({TEXT, IMAGE, AUDIO})

    def __init__(self, weights: str | Path | None = None, detect: bool | None = None,
                 settings: Config | None = None) -> None:
        self.use_settings(settings)
        path = Path(weights) if weights else WEIGHTS_DIR / self.weights_file
        if not path.is_file():
            raise NotFound(f"{self.name}: projection weights {str(path)!r} not found (run `make train` to rebuild them)")
        self.heads, self.meta = NumpyHeads.load(path)
        self.weights_path = path
        self.text_tower_name = self.meta.get("text_tower", self.default_text_tower)
        if weights:
            self.name = self.meta.get("name", path.stem)
        self.text = text_tower(self.text_tower_name, self.settings)
        # Detector words join the image vector where the heads were selected with them (meta).
        self.detect_weight = float(self.meta.get("detect_weight", 0.0))
        self.use_detect = bool(self.detect_weight) and (self.settings.detect if detect is None else detect)

    @cached_property
    def image(self) -> ImageTower:
        """The image tower, loaded on the first image (text queries never need it)."""
        return image_tower(self.settings, self.media_settings)

    def _encode_text(self, texts: list[str], mode: str) -> np.ndarray:
        return self.heads.text(self.text.features(texts, mode=mode))

    def _encode_image(self, images: list) -> np.ndarray:
        feats, logits = self.image.features_and_logits(images)
        vectors = self.heads.image(feats, logits)
        if self.use_detect:
            phrases = detection_phrases(images, self.detect_settings)
            found = [i for i, p in enumerate(phrases) if p]
            if found:
                vectors = vectors.copy()
                vectors[found] += self.detect_weight * self._encode_text([phrases[i] for i in found], "passage")
                vectors = l2_normalise(vectors)
        return vectors


class XmodalLiteV1(XmodalLite):
    """The first shipped heads (unbounded residual, ImageNet-name bridge): kept to measure against."""

    name = "xmodal-lite-v1"
    weights_file = "xmodal-lite-v1.npz"


class XmodalLiteMultilingual(XmodalLite):
    """Images + text in ~100 languages (multilingual-E5 space), trained on Tux Paint's 78 languages."""

    name = "xmodal-lite-multilingual"
    weights_file = "xmodal-lite-multilingual.npz"
    default_text_tower = "e5-multilingual"


class XmodalLiteMultilingualV1(XmodalLiteMultilingual):
    """The first shipped multilingual heads: kept to measure against."""

    name = "xmodal-lite-multilingual-v1"
    weights_file = "xmodal-lite-multilingual-v1.npz"
