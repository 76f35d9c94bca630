"""Sounds in the shared space: a small trained head over Whisper encoder statistics.

Speech is searchable through its transcript; a bark, a cymbal or a kettle has none. The sound head
maps what :func:`xmodal.media.sound.listen` computes (the mean and spread of Whisper base's
encoder frames) into a text model's space, where a typed "a dog barking" and a picture of a dog
already live, so a sound is found by words and finds pictures through the ordinary fusion. One head
per text space (``sound-<model>.npz`` in ``xmodal/encoders/weights``), trained by
the training package's sound recipe (``make train``) on Tux Paint's sound effects.

The head is plain numpy (standardise, a ReLU layer with a linear skip, L2-normalise): it adds well under
a millisecond to the encoder pass, and needs no torch at query time. Whisper's own caption of the
sound ("dog barking", see :func:`xmodal.media.sound.describe`), encoded as text, is added to
the head's vector with weight ``TAG_WEIGHT``, and so is the *label bridge* with weight
``BRIDGE_WEIGHT``: the softmax-weighted mean of the text vectors of the clip's likeliest
everyday sound labels (scored by Whisper's decoder in the same decode as the caption). Three
views of one encoder pass, one trained and two untrained, that err differently; the bridge,
being untrained, also places sounds the 70 training clips never covered (MODEL_CARD.md has each
alone and together).
"""
from __future__ import annotations

import json
import os
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from xmodal.encoders.base import l2_normalise, softmax
from xmodal.errors import InvalidInput, MediaError, StorageError
from xmodal.media.sound import FEATURE_DIM, SOUND_MODEL, Heard, listen, sound_labels
from xmodal.media.speech import decode_audio

WEIGHTS_DIR = Path(__file__).with_name("weights")
SOUND_FORMAT = 1
TAG_WEIGHT = 1.0  # the caption's text vector beside the head's (both unit length)
# The label bridge's vector beside them. 2 is the weight chosen on the val clips (both models), and it
# helps text -> sound (MODEL_CARD.md); off until the clip-as-query calibration holds with it (with 2 the
# very same clip as the query came back at relevance 0.72, below the 0.9 a test asks for).
BRIDGE_WEIGHT = 0.0
BRIDGE_WEIGHT_CHOSEN = 2.0
BRIDGE_TEMPERATURE = 1.0  # softmax temperature over the labels' scores (chosen zero-shot, train + val)
_ARRAYS = ("mean", "scale", "w_hidden", "b_hidden", "w_out", "w_skip", "b_out")
_LOCK = threading.Lock()
_HEADS: dict[str, "SoundHead | None"] = {}
_LABEL_VECTORS: dict[str, dict[str, np.ndarray]] = {}


@dataclass(frozen=True)
class SoundHead:
    """``x -> normalise(relu(z @ w_hidden + b_hidden) @ w_out + z @ w_skip + b_out)``, ``z`` the
    standardised features; ``meta`` records the text space (``model``), the Whisper model and the
    command that trained it."""

    arrays: Mapping[str, np.ndarray]
    meta: Mapping[str, object] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.arrays["w_out"].shape[1])

    def project(self, features: np.ndarray) -> np.ndarray:
        """(n, FEATURE_DIM) pooled encoder features -> (n, dim) unit vectors in the text space."""
        x = np.asarray(features, np.float32)
        if x.ndim == 1:
            x = x[None, :]
        a = self.arrays
        if x.shape[1] != a["mean"].shape[0]:
            raise InvalidInput(f"sound head: features have {x.shape[1]} numbers, the head takes {a['mean'].shape[0]}")
        z = (x - a["mean"]) / a["scale"]
        hidden = np.maximum(z @ a["w_hidden"] + a["b_hidden"], 0.0)
        return l2_normalise(hidden @ a["w_out"] + z @ a["w_skip"] + a["b_out"])


def weights_path(model: str) -> Path:
    """Where the shipped head for the text space of ``model`` lives."""
    return WEIGHTS_DIR / f"sound-{model}.npz"


def save_sound_head(head: SoundHead, path: str | Path) -> Path:
    """Write a head as float16 arrays plus its JSON metadata (a few hundred KB)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {**head.meta, "format": SOUND_FORMAT}
    arrays = {k: np.asarray(head.arrays[k], np.float16) for k in _ARRAYS}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    os.replace(tmp, path)
    return path


def load_sound_head(path: str | Path) -> SoundHead:
    """Read a head written by :func:`save_sound_head`; a damaged file raises StorageError naming it."""
    try:
        with np.load(Path(path)) as npz:
            meta = json.loads(str(npz["meta"]))
            arrays = {k: np.asarray(npz[k], np.float32) for k in _ARRAYS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise StorageError(f"{path}: not a sound head ({exc})") from exc
    if meta.get("format") != SOUND_FORMAT or arrays["mean"].shape[0] != FEATURE_DIM:
        raise StorageError(f"{path}: sound head format {meta.get('format')!r} with "
                           f"{arrays['mean'].shape[0]} inputs; this version reads format {SOUND_FORMAT} "
                           f"with {FEATURE_DIM}")
    return SoundHead(arrays, meta)


def sound_head(model: str) -> SoundHead | None:
    """The shipped head for ``model``'s text space (loaded once per process), or None when no head
    was trained for that model: its libraries simply have no sound field."""
    with _LOCK:
        if model not in _HEADS:
            path = weights_path(model)
            _HEADS[model] = load_sound_head(path) if path.is_file() else None
        return _HEADS[model]


def has_sound_head(model: str) -> bool:
    """Whether sounds can be placed in ``model``'s space."""
    return weights_path(model).is_file()


def project_sounds(model: str, features: np.ndarray) -> np.ndarray:
    """Pooled features (see :mod:`xmodal.media.sound`) -> vectors in ``model``'s space."""
    head = sound_head(model)
    if head is None:
        raise InvalidInput(f"no sound head for model {model!r} (known: "
                           f"{', '.join(sorted(p.stem[6:] for p in WEIGHTS_DIR.glob('sound-*.npz')))})")
    return head.project(features)


def label_vectors(encoder) -> dict[str, np.ndarray]:
    """``{label: unit text vector}`` of every sound label in ``encoder``'s space, written as Whisper
    writes a tag ("(dog barking)"); encoded once per process and model (~370 short texts)."""
    with _LOCK:
        if encoder.name not in _LABEL_VECTORS:
            labels = sound_labels()
            vectors = encoder.encode_text([f"({label})" for label in labels], mode="passage")
            _LABEL_VECTORS[encoder.name] = dict(zip(labels, vectors))
        return _LABEL_VECTORS[encoder.name]


def bridge_vectors(encoder, heard: Sequence[Heard], temperature: float = BRIDGE_TEMPERATURE) -> np.ndarray:
    """The label bridge: per clip, softmax(label scores / ``temperature``)-weighted mean of its
    likeliest labels' text vectors, (n, dim) unit vectors (zero rows for clips without labels)."""
    vectors = np.zeros((len(heard), encoder.dim), np.float32)
    known = label_vectors(encoder) if any(h.labels for h in heard) else {}
    for row, h in zip(vectors, heard):
        if h.labels:
            weights = softmax(np.array([[score for _, score in h.labels]]) / temperature)[0]
            row[:] = weights @ np.stack([known[label] for label, _ in h.labels])
    return l2_normalise(vectors)


def embed_heard(encoder, heard: Sequence[Heard], tag_weight: float = TAG_WEIGHT, head_weight: float = 1.0,
                bridge_weight: float = BRIDGE_WEIGHT) -> np.ndarray:
    """What clips sound like (:func:`xmodal.media.sound.listen`) -> (n, dim) unit vectors in
    ``encoder``'s space: the head's projection, plus ``tag_weight`` times the caption's text vector,
    plus ``bridge_weight`` times the label bridge (a clip without caption or labels keeps the rest)."""
    if not heard:
        return np.zeros((0, getattr(encoder, "dim", 0)), np.float32)
    vectors = head_weight * project_sounds(encoder.name, np.stack([h.features for h in heard]))
    tagged = [i for i, h in enumerate(heard) if h.tag]
    if tagged and tag_weight:
        vectors[tagged] += tag_weight * encoder.encode_text([f"({heard[i].tag})" for i in tagged], mode="passage")
    if bridge_weight:
        vectors += bridge_weight * bridge_vectors(encoder, heard)
    return l2_normalise(vectors)


def encode_sounds(encoder, paths: Sequence[str | os.PathLike]) -> np.ndarray:
    """Audio files (or videos' sound tracks) -> (n, dim) vectors in ``encoder``'s space. Raises
    MediaError naming the file that is silent, has no sound, or cannot be decoded."""
    if not paths:
        raise MediaError("encode_sounds: no files given")
    heard = []
    for p in paths:
        audio = decode_audio(p)
        if audio.size == 0:
            raise MediaError(f"{Path(p)}: no audio track")
        heard.append(listen(audio, str(Path(p)), labels=bool(BRIDGE_WEIGHT)))
    return embed_heard(encoder, heard)


__all__ = ["SOUND_MODEL", "TAG_WEIGHT", "BRIDGE_WEIGHT", "BRIDGE_WEIGHT_CHOSEN", "SoundHead", "bridge_vectors", "label_vectors",
           "embed_heard", "encode_sounds", "has_sound_head", "load_sound_head", "project_sounds",
           "save_sound_head", "sound_head", "weights_path"]
