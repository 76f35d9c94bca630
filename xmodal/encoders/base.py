"""The contract every encoder keeps, so ingestion and search never care which model is behind it.

An encoder maps texts and/or images (and, through speech recognition, audio) into one space of
``dim`` float32 L2-normalised vectors; cosine similarity between any two outputs is meaningful.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import FrozenSet, Protocol, Sequence, Union, runtime_checkable

import numpy as np

from xmodal.config import Config, DetectConfig, EncoderConfig, MediaConfig
from xmodal.errors import InvalidInput, MediaError

__all__ = ["MODALITIES", "PathLike", "Encoder", "BaseEncoder", "as_image_list", "softmax", "l2_normalise"]

TEXT, IMAGE, AUDIO = "text", "image", "audio"
MODALITIES = (TEXT, IMAGE, AUDIO)
PathLike = Union[str, os.PathLike]


@runtime_checkable
class Encoder(Protocol):
    """What :func:`xmodal.encoders.get_encoder` returns."""

    name: str
    dim: int
    modalities: FrozenSet[str]

    def encode_text(self, texts: Sequence[str], mode: str = "query") -> np.ndarray: ...

    def encode_image(self, images: Sequence) -> np.ndarray: ...


class BaseEncoder:
    """Shared plumbing: input checks, unsupported-modality errors, normalisation, audio via ASR.

    Subclasses implement ``_encode_text`` / ``_encode_image`` on already validated lists, and
    take ``settings`` (a :class:`~xmodal.config.Config`) in their constructor, handing it to
    :meth:`use_settings`: an encoder keeps the sections it reads (its own, and how media is
    decoded and detected), so two encoders in one process can be configured differently.
    """

    name: str = ""
    dim: int = 0
    modalities: FrozenSet[str] = frozenset()
    settings: EncoderConfig = EncoderConfig()
    media_settings: MediaConfig = MediaConfig()
    detect_settings: DetectConfig = DetectConfig()

    def use_settings(self, settings: Config | None) -> None:
        """Keep the sections of ``settings`` this encoder reads (default: ``Config()``)."""
        config = settings or Config()
        self.settings, self.media_settings, self.detect_settings = config.encoders, config.media, config.detect

    def encode_text(self, texts: Sequence[str] | str, mode: str = "query") -> np.ndarray:
        """(n, dim) float32, L2-normalised. ``mode``: "query" for what users type, "passage" for
        what is stored (asymmetric models such as E5 treat them differently)."""
        self._require(TEXT)
        if mode not in ("query", "passage"):
            raise InvalidInput(f"{self.name}: text mode must be 'query' or 'passage', got {mode!r}")
        items = [texts] if isinstance(texts, str) else list(texts)
        for i, t in enumerate(items):
            if not isinstance(t, str):
                raise InvalidInput(f"{self.name}: text #{i} is a {type(t).__name__}, expected str")
        if not items:
            return self._empty()
        return self._finish(self._encode_text(items, mode))

    def encode_image(self, images: Sequence | object) -> np.ndarray:
        """(n, dim) float32, L2-normalised; images are PIL images or file paths."""
        self._require(IMAGE)
        items = as_image_list(images)
        if not items:
            return self._empty()
        return self._finish(self._encode_image(items))

    def encode_audio(self, paths: Sequence[PathLike] | PathLike, mode: str = "query") -> np.ndarray:
        """Speech -> transcript (faster-whisper) -> text space. Raises MediaError when a file holds
        no recognisable speech, since a vector of nothing would match arbitrary items."""
        self._require(AUDIO)
        from xmodal.media import transcribe

        items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        texts = []
        for p in items:
            text = " ".join(s.text.strip() for s in transcribe(p, settings=self.media_settings)).strip()
            if not text:
                raise MediaError(f"{Path(p)}: no speech recognised")
            texts.append(text)
        return self.encode_text(texts, mode=mode) if texts else self._empty()

    # -- helpers for subclasses ------------------------------------------------------------
    def _encode_text(self, texts: list[str], mode: str) -> np.ndarray:
        raise NotImplementedError

    def _encode_image(self, images: list) -> np.ndarray:
        raise NotImplementedError

    def _require(self, modality: str) -> None:
        if modality not in self.modalities:
            raise InvalidInput(f"encoder {self.name!r} cannot encode {modality}; "
                               f"it handles {', '.join(sorted(self.modalities))}")

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.dim), np.float32)

    def _finish(self, x: np.ndarray) -> np.ndarray:
        return l2_normalise(x)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} dim={self.dim} {sorted(self.modalities)}>"


def as_image_list(images) -> list:
    """One image (a path or a PIL image) or a sequence of them -> a list."""
    if isinstance(images, (str, os.PathLike)) or hasattr(images, "getpixel"):
        return [images]
    return list(images)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise probabilities, computed stably (logits shifted by their row maximum)."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero instead of becoming NaN)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, np.finfo(np.float32).tiny), dtype=np.float32)
