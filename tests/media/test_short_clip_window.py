"""The short-clip encoder window (``MediaConfig.asr_short_clip_window_s``): a spoken query is filled out
with silence to this many seconds instead of Whisper's 30, and the encoder gets exactly that many frames."""
from __future__ import annotations

import numpy as np
import pytest

from tests.media.helpers import speak
from xmodal.config import MediaConfig
from xmodal.errors import InvalidInput
from xmodal.media import decode_audio
from xmodal.media.speech import clip_window_frames, transcribe_clip, whisper_model


class RecordingWhisper:
    """The real Whisper model, noting the mel frames each ``encode`` call receives (the seam)."""

    def __init__(self, whisper):
        self._whisper = whisper
        self.frames: list[int] = []

    def encode(self, features: np.ndarray):
        self.frames.append(int(features.shape[-1]))
        return self._whisper.encode(features)

    def __getattr__(self, name: str):
        return getattr(self._whisper, name)


def _words(text: str) -> set[str]:
    return {w.strip(".,!?").lower() for w in text.split()}


# The language known (asr_languages): the short window (10 s, chosen on benchmarks/speech_tuning.py's tuning
# split); open detection: Whisper's full 30 s unless asked otherwise; either window as set.
@pytest.mark.parametrize("overrides, frames", [({}, 3000), ({"asr_languages": ("en",)}, 1000),
                                               ({"asr_languages": ("en", "fr", "es")}, 1000),
                                               ({"asr_short_clip_open_window_s": 10.0}, 1000),
                                               ({"asr_languages": ("en",), "asr_short_clip_window_s": 30.0}, 3000)])
def test_a_short_query_is_encoded_in_the_chosen_window_and_keeps_its_words(tmp_path, overrides, frames):
    audio = decode_audio(speak("a tall giraffe", tmp_path / "giraffe.wav", voice="en-us"))
    assert 1 < audio.size / 16_000 < 3  # a 1-3 s spoken query
    whisper = RecordingWhisper(whisper_model("base"))
    readings, language, _ = transcribe_clip(whisper, audio, settings=MediaConfig(**overrides))
    assert whisper.frames == [frames]  # one encoder pass, 100 mel frames a second of window
    assert language == "en" and {"tall", "giraffe"} <= _words(readings[0].text)


# Told the language (a caller's ``language=``, or an English-only model) there is nothing to detect: the short
# window, whatever asr_languages says; open detection alone keeps the full window.
@pytest.mark.parametrize("model, language, frames", [("base", "en", 1000), ("tiny.en", None, 1000), ("base", None, 3000)])
def test_a_clip_whose_language_is_known_takes_the_short_window(tmp_path, model, language, frames):
    audio = decode_audio(speak("a tall giraffe", tmp_path / "giraffe.wav", voice="en-us"))
    whisper = RecordingWhisper(whisper_model(model))
    readings, heard_as, _ = transcribe_clip(whisper, audio, multilingual=model == "base", language=language,
                                            settings=MediaConfig())
    assert whisper.frames == [frames] and heard_as == "en"
    assert {"tall", "giraffe"} <= _words(readings[0].text)


def test_the_window_never_cuts_the_clip_nor_exceeds_whispers():
    assert clip_window_frames(250, 5.0, 3000, 0.01) == 500  # filled out with silence
    assert clip_window_frames(701, 5.0, 3000, 0.01) == 700  # a longer padded clip keeps its length (even)
    assert clip_window_frames(3400, 5.0, 3000, 0.01) == 3000  # never past Whisper's 30 s
    assert clip_window_frames(250, 30.0, 3000, 0.01) == 3000


@pytest.mark.parametrize("window_s", [0.0, -1.0, 31.0])
def test_an_impossible_window_is_a_clear_error(window_s):
    with pytest.raises(InvalidInput, match="asr_short_clip_window_s"):
        clip_window_frames(250, window_s, 3000, 0.01)
