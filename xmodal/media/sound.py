"""What a sound is like, as numbers: pooled Whisper encoder features of any audio, speech or not.

Why Whisper's encoder: it is the model speech recognition already loads (``base``, multilingual),
and it was trained on 680,000 hours of real recordings whose transcripts include non-speech tags
("[dog barking]", "(applause)"), so its features tell a bark from a bell without another model.
A trained head (:mod:`xmodal.encoders.sound`) maps these statistics into the shared text space.

Whisper's decoder also says what it hears, two ways, from one greedy decode after a forced "(":
its caption ("dog barking"), and a *label bridge*: how likely the first word of each of a fixed
vocabulary of everyday sound labels (``sound_labels.txt``) is at that point, minus half the same
on silence and noise so that words Whisper says of anything ("music") do not always win. The
labels cost nothing beyond the caption (the decode's first-step log-probabilities); chosen
zero-shot on the train + val clips, see MODEL_CARD.md "Sounds".

The clip is encoded at its own length (Whisper pads every window to 30 s for transcription; here a
1-second bark costs a 1-second encoder pass, ~30x less), in 30-second windows up to
``MAX_SECONDS``; the frames are then pooled into one vector per file: their mean and standard
deviation, side by side (``FEATURE_DIM`` numbers). A file with no sound at all is an error, since
a vector of silence would match arbitrary things.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from xmodal.errors import MediaError
from xmodal.media.speech import SAMPLE_RATE, decode_audio, is_silent, whisper_model

__all__ = ["SOUND_MODEL", "FEATURE_DIM", "Heard", "is_silent", "encoder_frames", "clean_tag", "whisper_tag", "listen",
           "pool_frames", "hear_files", "sound_labels", "describe"]

SOUND_MODEL = "base"  # the Whisper model whose encoder the sound head was trained on
ENCODER_DIM = 512  # Whisper base's encoder width
FEATURE_DIM = 2 * ENCODER_DIM  # mean and standard deviation of the frames
WINDOW_S = 30.0  # Whisper's window
MAX_SECONDS = 120.0  # a sound's character shows in its first minutes; longer files cost no more
MIN_SECONDS = 0.1  # Whisper's convolutions need a few frames: shorter clips are padded with silence
CAPTION_PADDED = True  # chosen on the train + val clips (zero-shot), see MODEL_CARD.md "Sounds"
TAG_MAX_TOKENS = 16  # a sound tag is a few words ("dog barking", "water splashing")
_LETTERS = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
LABELS_FILE = Path(__file__).with_name("sound_labels.txt")
LABELS_KEPT = 40  # a clip's likeliest labels kept for the bridge (chosen zero-shot on train + val)
LABEL_PRIOR_WEIGHT = 0.5  # times a label's log-prob on silence and noise, subtracted (same choice)


@dataclass(frozen=True)
class Heard:
    """What a clip sounds like: pooled encoder statistics (for the trained head), Whisper's own
    caption of it ("dog barking"; "" when it offers none) and its likeliest labels from
    :func:`sound_labels` with their scores (log-probabilities less the silence-and-noise prior)."""

    features: np.ndarray
    tag: str = ""
    labels: tuple[tuple[str, float], ...] = ()  # likeliest sound labels, (label, score), best first


def encoder_frames(audio: np.ndarray, model: str = SOUND_MODEL, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Whisper encoder output of 16 kHz mono ``audio``, (frames, ENCODER_DIM) float32, one frame per
    20 ms, each 30-second window encoded at its own length."""
    return np.concatenate([f for f, _ in _windows(audio, model, max_seconds)] or
                          [np.zeros((0, ENCODER_DIM), np.float32)])


def _windows(audio: np.ndarray, model: str, max_seconds: float):
    """(frames, ctranslate2 encoder output) of each 30-second window, encoded at its own length."""
    whisper = whisper_model(model)
    audio = np.asarray(audio, np.float32)[: int(max_seconds * SAMPLE_RATE)]
    if audio.size < MIN_SECONDS * SAMPLE_RATE:
        audio = np.pad(audio, (0, int(MIN_SECONDS * SAMPLE_RATE) - audio.size))
    step = int(WINDOW_S * SAMPLE_RATE)
    out = []
    for start in range(0, audio.size, step):
        feats = whisper.feature_extractor(audio[start:start + step])
        n = feats.shape[-1] // 2 * 2  # the encoder halves the frame rate: an even count
        if n < 4:  # a tail of a few milliseconds: nothing to hear
            continue
        encoded = whisper.encode(np.ascontiguousarray(feats[:, :n]))
        out.append((np.asarray(encoded)[0].astype(np.float32), encoded))
    return out


def clean_tag(text: str) -> str:
    """Whisper's caption cut to its first parenthesis, or "" when it is no words (a run of "(",
    digits, or a word repeated as if spoken)."""
    tag = text.strip().removeprefix("(").split(")")[0].split("(")[0].strip(" .,!?-")  # the result repeats the prompt's "("
    words = tag.lower().split()
    if not _LETTERS.search(tag) or (len(words) > 2 and len(set(words)) * 2 <= len(words)):
        return ""
    return tag


@lru_cache(maxsize=1)
def sound_labels() -> tuple[str, ...]:
    """The label bridge's vocabulary: ~370 everyday sound labels ("dog barking", "applause"),
    hand-written for xmodal (see the file's header), never taken from evaluation data."""
    lines = (line.strip() for line in LABELS_FILE.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


@lru_cache(maxsize=4)
def _tokenizer(model: str):
    from faster_whisper.tokenizer import Tokenizer  # the [media] extra's package, loaded with the model

    return Tokenizer(whisper_model(model).hf_tokenizer, True, task="transcribe", language="en")


def _prompt(model: str) -> list[int]:
    """Whisper's start of an English transcript without timestamps, then " (": the way its
    transcripts open a non-speech tag."""
    tok = _tokenizer(model)
    return [*tok.sot_sequence, tok.no_timestamps, *tok.encode(" (")]


@lru_cache(maxsize=4)
def _label_first_tokens(model: str) -> np.ndarray:
    """Each label's first token after " (" (the label's first word, or its first piece)."""
    tok = _tokenizer(model)
    opener = tok.encode(" (")
    return np.array([tok.encode(" (" + label + ")")[len(opener)] for label in sound_labels()])


def _decode(encoded, model: str) -> tuple[str, np.ndarray]:
    """One greedy decode after " (": the cleaned caption, and log-probs of every label's first token."""
    prompt = _prompt(model)
    result = whisper_model(model).model.generate(encoded, [prompt], beam_size=1, max_length=len(prompt) + TAG_MAX_TOKENS,
                                                 suppress_tokens=[], suppress_blank=False, return_logits_vocab=True)[0]
    ids = result.sequences_ids[0]
    step = 1 if ids[:1] == prompt[-1:] else 0  # CTranslate2 returns the prompt's last token as the first one
    logits = np.asarray(result.logits[0])[step].astype(np.float64)
    log_probs = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
    return clean_tag(_tokenizer(model).decode(ids)), log_probs[_label_first_tokens(model)]


@lru_cache(maxsize=4)
def _label_prior(model: str) -> np.ndarray:
    """Each label's log-prob on silence, white noise and brown noise (mean): how readily Whisper
    says it of anything. Three decodes, once per process; seeded, so always the same."""
    noise = np.random.default_rng(0).standard_normal(SAMPLE_RATE)
    clips = (np.zeros(SAMPLE_RATE), noise * 0.01, np.cumsum(noise) * 0.001)
    return np.mean([_decode(_padded_first_window(c.astype(np.float32), model), model)[1] for c in clips], axis=0)


def describe(encoded, model: str = SOUND_MODEL) -> tuple[str, tuple[tuple[str, float], ...]]:
    """Whisper's caption of a sound (decoding forced to open a parenthesis, as its transcripts do
    for non-speech: "(dog barking)") and the ``LABELS_KEPT`` likeliest labels with their scores,
    from one encoder output and one greedy decode."""
    caption, log_probs = _decode(encoded, model)
    scores = log_probs - LABEL_PRIOR_WEIGHT * _label_prior(model)
    best = np.argsort(-scores, kind="stable")[:LABELS_KEPT]
    labels = sound_labels()
    return caption, tuple((labels[i], round(float(scores[i]), 4)) for i in best)


def whisper_tag(encoded, model: str = SOUND_MODEL) -> str:
    """Whisper's own description of a sound from an encoder output (see :func:`describe`)."""
    return _decode(encoded, model)[0]


def _padded_first_window(audio: np.ndarray, model: str = SOUND_MODEL):
    """Encoder output of the first 30 s padded to a full window, as Whisper hears for transcription."""
    whisper = whisper_model(model)
    feats = whisper.feature_extractor(audio[: int(WINDOW_S * SAMPLE_RATE)])
    frames = whisper.feature_extractor.nb_max_frames
    feats = feats[:, :frames] if feats.shape[-1] >= frames else np.pad(feats, ((0, 0), (0, frames - feats.shape[-1])))
    return whisper.encode(np.ascontiguousarray(feats))


def listen(audio: np.ndarray, name: str = "audio", tag: bool = True, padded_caption: bool | None = None,
           labels: bool = False) -> Heard:
    """Pooled features of decoded ``audio`` and (``tag``) Whisper's caption of its first window, with
    (``labels``) its likeliest sound labels (:func:`describe`: the label bridge's input, whose
    silence-and-noise prior costs three decodes once per process, so only a caller that uses the
    bridge asks for them); MediaError naming ``name`` when the audio is silent.

    ``padded_caption`` (default ``CAPTION_PADDED``): caption the first window padded to 30 s, as
    Whisper was trained to hear it, at the cost of one full encoder pass for a clip shorter than
    that; otherwise caption the clip-length encoding the features already come from (free)."""
    if is_silent(audio):
        raise MediaError(f"{name}: silent (no sound to describe)")
    windows = _windows(audio, SOUND_MODEL, MAX_SECONDS)
    if not windows:
        raise MediaError(f"{name}: too short to hear")
    frames = np.concatenate([f for f, _ in windows])
    if not tag:
        return Heard(pool_frames(frames))
    padded = CAPTION_PADDED if padded_caption is None else padded_caption
    short = windows[0][0].shape[0] < whisper_model(SOUND_MODEL).feature_extractor.nb_max_frames // 2
    encoded = _padded_first_window(audio) if padded and short else windows[0][1]
    if not labels:
        return Heard(pool_frames(frames), whisper_tag(encoded))
    caption, likeliest = describe(encoded)
    return Heard(pool_frames(frames), caption, likeliest)


def pool_frames(frames: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of the frames, (FEATURE_DIM,) float32."""
    frames = np.asarray(frames, np.float32)
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)]).astype(np.float32)


def hear_files(paths: Sequence[str | os.PathLike], tag: bool = True, labels: bool = False) -> dict[str, Heard]:
    """``{path: Heard}`` for the files that hold sound; silent ones (Tux Paint's giraffe makes no
    sound) and files without an audio track are left out, damaged ones raise MediaError."""
    out = {}
    for p in paths:
        audio = decode_audio(p)
        if audio.size and not is_silent(audio):
            out[str(p)] = listen(audio, str(p), tag, labels=labels)
    return out
