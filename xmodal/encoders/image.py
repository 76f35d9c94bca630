"""Image-only encoder: EfficientNet-Lite0's pooled features as an image-to-image similarity space.

Useful for near-duplicate and "more like this picture" search; it cannot match text (use
``label-bridge``, ``clip:...`` or ``xmodal-lite`` for cross-modal search).
"""
from __future__ import annotations

import numpy as np

from xmodal.config import Config
from xmodal.encoders.base import IMAGE, BaseEncoder
from xmodal.encoders.towers import IMAGE_FEATURE_DIM, image_tower

__all__ = ["EfficientNetEncoder"]


class EfficientNetEncoder(BaseEncoder):
    name = "efficientnet-lite0"
    dim = IMAGE_FEATURE_DIM
    modalities = frozenset({IMAGE})

    def __init__(self, settings: Config | None = None):
        self.use_settings(settings)
        self.tower = image_tower(self.settings, self.media_settings)

    def _encode_image(self, images: list) -> np.ndarray:
        return self.tower.features(images)
