"""Text-only encoders over the packaged sentence towers (audio joins them through speech recognition)."""
from __future__ import annotations

import numpy as np

from xmodal.config import Config
from xmodal.encoders.base import AUDIO, TEXT, BaseEncoder
from xmodal.encoders.towers import TEXT_FEATURE_DIM, text_tower

__all__ = ["TextTowerEncoder", "MiniLMEncoder", "E5Encoder"]


class TextTowerEncoder(BaseEncoder):
    """Encodes text with one frozen text tower; the tower itself is shared process-wide."""

    modalities = frozenset({TEXT, AUDIO})
    dim = TEXT_FEATURE_DIM
    tower_name = ""

    def __init__(self, settings: Config | None = None):
        self.use_settings(settings)
        self.name = self.tower_name
        self.tower = text_tower(self.tower_name, self.settings)

    def _encode_text(self, texts: list[str], mode: str) -> np.ndarray:
        return self.tower.features(texts, mode=mode)


class MiniLMEncoder(TextTowerEncoder):
    """all-MiniLM-L6-v2: English, fast, symmetric (query and passage encoded alike)."""

    tower_name = "minilm"


class E5Encoder(TextTowerEncoder):
    """multilingual-e5-small (4-bit): ~100 languages in one space; asymmetric query/passage."""

    tower_name = "e5-multilingual"
