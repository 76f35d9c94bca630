"""What a sound is like, as numbers: pooled Whisper encoder features of any audio, speech or not.

Why Whisper's encoder: it is the model speech recognition already loads (``base``, multilingual),
and it was trained on 680,000 hours of real recordings whose transcripts include non-speech tags
("[dog barking]", "(applause)"), so its features tell a bark from a bell without another model.
A trained head (:mod:`xmodal.encoders.sound`) maps these statistics into the shared text space.

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
from typing import Sequence

import numpy as np

from xmodal.errors import MediaError
from xmodal.media.speech import SAMPLE_RATE, decode_audio, is_silent, whisper_model

__all__ = ["SOUND_MODEL", "FEATURE_DIM", "Heard", "is_silent", "encoder_frames", "clean_tag", "whisper_tag", "listen",
           "pool_frames", "hear_files"]

SOUND_MODEL = "base"  # the Whisper model whose encoder the sound head was trained on
ENCODER_DIM = 512  # Whisper base's encoder width
FEATURE_DIM = 2 * ENCODER_DIM  # mean and standard deviation of the frames
WINDOW_S = 30.0  # Whisper's window
MAX_SECONDS = 120.0  # a sound's character shows in its first minutes; longer files cost no more
MIN_SECONDS = 0.1  # Whisper's convolutions need a few frames: shorter clips are padded with silence
CAPTION_PADDED = True  # chosen on the train + val clips (zero-shot), see MODEL_CARD.md "Sounds"
TAG_MAX_TOKENS = 16  # a sound tag is a few words ("dog barking", "water splashing")
_LETTERS = re.compile(r"[^\W\d_]{2,}", re.UNICODE)


@dataclass(frozen=True)
class Heard:
    """What a clip sounds like: pooled encoder statistics (for the trained head) and Whisper's own
    caption of it ("dog barking"; "" when it offers none)."""

    features: np.ndarray
    tag: str = ""


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


def whisper_tag(encoded, model: str = SOUND_MODEL) -> str:
    """Whisper's own description of a sound: decoding forced to open a parenthesis, as its
    transcripts do for non-speech ("(dog barking)", "(applause)"), from an encoder output."""
    from faster_whisper.tokenizer import Tokenizer  # the [media] extra's package, loaded with the model

    whisper = whisper_model(model)
    tok = Tokenizer(whisper.hf_tokenizer, True, task="transcribe", language="en")
    prompt = [*tok.sot_sequence, tok.no_timestamps, *tok.encode(" (")]
    result = whisper.model.generate(encoded, [prompt], beam_size=1, max_length=len(prompt) + TAG_MAX_TOKENS,
                                    suppress_tokens=[], suppress_blank=False)
    return clean_tag(tok.decode(result[0].sequences_ids[0]))


def _padded_first_window(audio: np.ndarray, model: str = SOUND_MODEL):
    """Encoder output of the first 30 s padded to a full window, as Whisper hears for transcription."""
    whisper = whisper_model(model)
    feats = whisper.feature_extractor(audio[: int(WINDOW_S * SAMPLE_RATE)])
    frames = whisper.feature_extractor.nb_max_frames
    feats = feats[:, :frames] if feats.shape[-1] >= frames else np.pad(feats, ((0, 0), (0, frames - feats.shape[-1])))
    return whisper.encode(np.ascontiguousarray(feats))


def listen(audio: np.ndarray, name: str = "audio", tag: bool = True, padded_caption: bool | None = None) -> Heard:
    """Pooled features of decoded ``audio`` and (``tag``) Whisper's caption of its first window;
    MediaError naming ``name`` when the audio is silent.

    ``padded_caption`` (default ``CAPTION_PADDED``): caption the first window padded to 30 s, as
    Whisper was trained to hear it, at the cost of one full encoder pass for a clip shorter than
    that; otherwise caption the clip-length encoding the features already come from (free)."""
    if is_silent(audio):
        raise MediaError(f"{name}: silent (no sound to describe)")
    windows = _windows(audio, SOUND_MODEL, MAX_SECONDS)
    if not windows:
        raise MediaError(f"{name}: too short to hear")
    frames = np.concatenate([f for f, _ in windows])
    caption = ""
    if tag:
        padded = CAPTION_PADDED if padded_caption is None else padded_caption
        short = windows[0][0].shape[0] < whisper_model(SOUND_MODEL).feature_extractor.nb_max_frames // 2
        caption = whisper_tag(_padded_first_window(audio) if padded and short else windows[0][1])
    return Heard(pool_frames(frames), caption)


def pool_frames(frames: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of the frames, (FEATURE_DIM,) float32."""
    frames = np.asarray(frames, np.float32)
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)]).astype(np.float32)


def hear_files(paths: Sequence[str | os.PathLike], tag: bool = True) -> dict[str, Heard]:
    """``{path: Heard}`` for the files that hold sound; silent ones (Tux Paint's giraffe makes no
    sound) and files without an audio track are left out, damaged ones raise MediaError."""
    out = {}
    for p in paths:
        audio = decode_audio(p)
        if audio.size and not is_silent(audio):
            out[str(p)] = listen(audio, str(p), tag)
    return out
