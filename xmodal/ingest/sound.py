"""Sounds as a field of their own: what a library stores and queries for non-speech audio.

An audio file or a video's sound track gets one ``sound`` row (child of its item, role ``sound``)
whose vector the sound head (:mod:`xmodal.encoders.sound`) places in the library's text space:
a typed "a dog barking" finds the bark, and a bark used as a query (``search(audio=...)``) finds
pictures of dogs, through the same per-field calibration and fusion as every other signal.

Everything the library needs is here, so the ingest code keeps three call sites: decoding adds
:func:`sound_content`, encoding calls :func:`sound_vectors`, and a search by a clip without speech
asks :func:`query_sound_vector`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from xmodal.encoders.sound import BRIDGE_WEIGHT, embed_heard, has_sound_head
from xmodal.errors import InvalidInput
from xmodal.media.sound import Heard, is_silent, listen
from xmodal.media.speech import decode_audio

__all__ = ["SOUND", "library_has_sounds", "sound_content", "sound_vectors", "is_speech", "query_sound_vector"]

SOUND = "sound"  # vector field (text space) and child-row role of a file's sound
# What Whisper writes when it hears no words: a bracketed tag ("[dog barking]", "(applause)"),
# music notes, or one of its bare tags. Such a transcript is no speech query.
_TAG = re.compile(r"^\s*(?:[\[(♪*].*[\])♪*]|[♪\s]+|(?:music|applause|laughter|silence|noise)[.!]?)\s*$",
                  re.IGNORECASE)


def library_has_sounds(encoder) -> bool:
    """Whether a library on ``encoder`` gets a ``sound`` field (a head was trained for its space)."""
    return has_sound_head(getattr(encoder, "name", ""))


def sound_content(path: str | os.PathLike) -> Heard | None:
    """What a file's ``sound`` unit holds: its pooled Whisper features and caption, or None
    when the file has no audio track or only silence (nothing to hear is not an error for a file;
    a damaged file raises MediaError from decoding, as the speech step would)."""
    audio = decode_audio(path)
    if is_silent(audio):  # no samples, or none above the silence threshold
        return None
    return listen(audio, str(Path(path)), labels=bool(BRIDGE_WEIGHT))


def sound_vectors(encoder, units: Sequence) -> np.ndarray:
    """Vectors of ``sound`` units in ``encoder``'s space, one batched call of the head."""
    return embed_heard(encoder, [u.content for u in units])


def is_speech(transcript: str) -> bool:
    """Whether a clip's transcript holds words (Whisper's non-speech tags do not count)."""
    return bool(transcript.strip()) and not _TAG.match(transcript)


def query_sound_vector(encoder, path: str | os.PathLike) -> np.ndarray:
    """The query vector of a clip without speech (a bark, a bell), in ``encoder``'s text space.

    Raises MediaError naming the clip when it cannot be decoded, and InvalidInput when it is
    silent or the library's model has no sound head (only speech can be searched there)."""
    if not library_has_sounds(encoder):
        raise InvalidInput(f"{path}: no speech recognised in the clip, and model {encoder.name!r} has no sound "
                           "head to search by what it sounds like")
    audio = decode_audio(path)  # a damaged clip raises MediaError naming it
    if is_silent(audio):  # no samples, or none above the silence threshold
        raise InvalidInput(f"{path}: no speech recognised and no sound to search by (the clip is silent)")
    return embed_heard(encoder, [listen(audio, str(Path(path)), labels=bool(BRIDGE_WEIGHT))])[0]
