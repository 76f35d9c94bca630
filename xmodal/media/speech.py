"""Speech in audio and video files -> timed text in the language spoken (faster-whisper, int8 on CPU).

The default model is multilingual Whisper base (``xmodal.media.whisper_models``): it detects the
language of each file or query, which segments carry as ``language``. ``tiny.en`` (English only)
stays selectable with ``XMODAL_ASR_MODEL=tiny.en``. Both ship in pip packages, so recognition works
offline. Segments keep their start / end seconds: a search hit in a two-hour recording points at
the moment the words were said.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from xmodal._optional import require
from xmodal.config import MediaConfig
from xmodal.errors import InvalidInput, MediaError
from xmodal.media.whisper_models import is_multilingual, model_path

__all__ = ["SAMPLE_RATE", "Segment", "whisper_model_path", "whisper_model", "decode_audio", "decoding_options",
           "is_silent", "SENTENCE_END", "sentences", "likeliest_language", "Reading", "encode_clip", "clip_window_frames", "clip_languages",
           "decode_clip", "choose_reading", "transcribe_clip", "hear", "transcribe"]

SAMPLE_RATE = 16_000  # what Whisper models take
_LOCK = threading.Lock()
_MODELS: dict[tuple[str, int], object] = {}


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the beginning of the file
    end: float
    text: str
    language: str | None = None  # ISO 639-1 code Whisper detected for the file ("en", "fr", ...)
    logprob: float | None = None  # the recogniser's average log-probability per token of the words


def whisper_model_path(name: str | None = None) -> Path:
    """Folder of the Whisper model ``name`` (default: ``MediaConfig.asr_model``)."""
    return model_path(name or MediaConfig.asr_model)


def whisper_model(name: str | None = None, threads: int = MediaConfig.asr_threads):
    """The process-wide Whisper model ``name`` on ``threads`` CPU threads (default: the
    ``MediaConfig`` defaults); loading takes a second, recognition reuses it."""
    name = name or MediaConfig.asr_model
    key = (name, max(1, threads))
    with _LOCK:
        if key not in _MODELS:
            fw = require("faster_whisper", "media", "faster-whisper")
            _MODELS[key] = fw.WhisperModel(str(whisper_model_path(name)), device="cpu", compute_type="int8",
                                           cpu_threads=key[1])
        return _MODELS[key]


def is_silent(audio: np.ndarray, peak: float = MediaConfig.asr_silence_peak) -> bool:
    """No samples, or none louder than the speech recogniser's silence threshold."""
    return audio.size == 0 or float(np.abs(audio).max()) < peak


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


def decoding_options(seconds: float, multilingual: bool = True, language: str | None = None,
                     settings: MediaConfig | None = None) -> dict:
    """faster-whisper settings for a clip of ``seconds`` (``settings``: beam, VAD, thresholds).

    Short clips (spoken queries) are decoded whole, without the VAD and timestamps, with beam
    search: the VAD trims the edges of a 1-5 s clip, where a query's only content word often sits. Longer
    recordings keep the VAD, which skips silences and keeps Whisper from inventing text in them."""
    settings = settings or MediaConfig()
    short = seconds <= settings.asr_short_clip_s
    return {"language": language if multilingual else "en", "beam_size": settings.asr_beam_size,
            "vad_filter": settings.asr_vad and not short, "condition_on_previous_text": False,
            # A short clip is one segment: decoding without timestamp tokens recovered 55 of 81 content
            # words of 50 espeak queries against 49-51 with them (BENCHMARKS.md, "Speech recognition").
            "without_timestamps": short,
            # Word times let a recording's segments be cut at sentence ends (see sentences()): Whisper
            # base often returns two or three sentences as one segment, and "the second where it is
            # said" would then be the segment's start, seconds early.
            "word_timestamps": not short,
            # No sampling fallback: Whisper otherwise re-decodes a doubtful window at random
            # temperatures, so the same clip could be heard differently run to run.
            "temperature": 0.0,
            "no_speech_threshold": settings.asr_no_speech_threshold}


SENTENCE_END = (".", "?", "!", "。", "？", "！")


def sentences(segment, language: str | None) -> list[Segment]:
    """One :class:`Segment` per sentence of a faster-whisper segment, timed by its words (the
    segment itself when it carries no word times). Each sentence keeps the segment's average
    log-probability: how sure the recogniser was of these words (answers weigh it)."""
    words = getattr(segment, "words", None) or []
    raw = getattr(segment, "avg_logprob", None)
    logprob = float(raw) if raw is not None else None
    if not words:
        return [Segment(float(segment.start), float(segment.end), segment.text.strip(), language, logprob)]
    out: list[Segment] = []
    current: list = []
    for word in words:
        current.append(word)
        if word.word.strip().endswith(SENTENCE_END):
            out.append(Segment(float(current[0].start), float(current[-1].end),
                               "".join(w.word for w in current).strip(), language, logprob))
            current = []
    if current:
        out.append(Segment(float(current[0].start), float(current[-1].end),
                           "".join(w.word for w in current).strip(), language, logprob))
    return out


def likeliest_language(whisper, audio: np.ndarray, allowed: tuple[str, ...]) -> str:
    """The most probable of the ``allowed`` languages for ``audio`` (its first 30 seconds).

    Costs what Whisper's own detection costs (one encoder pass, which transcription then skips
    by being told the language); unknown codes in ``allowed`` are an error naming them."""
    return _likeliest(dict(whisper.detect_language(audio)[2]), allowed)


def _likeliest(probs: dict[str, float], allowed: tuple[str, ...]) -> str:
    """The most probable language of ``probs`` (among ``allowed`` when given)."""
    if not allowed:
        return max(probs, key=lambda code: probs[code])
    unknown = [code for code in allowed if code not in probs]
    if unknown:
        raise InvalidInput(f"MediaConfig.asr_languages ($XMODAL_ASR_LANGUAGES): Whisper knows no language {', '.join(unknown)}")
    return max(allowed, key=lambda code: probs[code])


@dataclass(frozen=True)
class Reading:
    """One of the beam search's n-best readings of a short clip."""

    text: str
    logprob: float  # average log-probability per token (as faster-whisper computes it)


def encode_clip(whisper, audio: np.ndarray, settings: MediaConfig | None = None, language_known: bool | None = None):
    """Whisper's encoding of a short clip padded with ``settings.asr_short_clip_pad_s`` of silence on
    each side (Whisper drops a word said at the very edge of its window) and filled out with silence
    (:func:`clip_window_frames`) to ``settings.asr_short_clip_window_s`` where the language is known
    (told, an English-only model, or detected among ``asr_languages``; ``language_known`` None: the
    last), else to ``asr_short_clip_open_window_s`` (open detection guesses worse in a short window):
    the one encoder pass that language detection and every decoding of the clip share."""
    settings = settings or MediaConfig()
    known = bool(settings.asr_languages) if language_known is None else language_known
    pad = np.zeros(int(round(settings.asr_short_clip_pad_s * SAMPLE_RATE)), np.float32)
    features = whisper.feature_extractor(np.concatenate([pad, audio.astype(np.float32), pad]))
    setting = "asr_short_clip_window_s" if known else "asr_short_clip_open_window_s"
    frames = clip_window_frames(features.shape[-1], getattr(settings, setting),
                                whisper.feature_extractor.nb_max_frames, whisper.feature_extractor.time_per_frame,
                                setting)
    features = features[:, :frames]
    if features.shape[-1] < frames:
        features = np.pad(features, ((0, 0), (0, frames - features.shape[-1])))
    return whisper.encode(np.ascontiguousarray(features))


def clip_window_frames(clip_frames: int, window_s: float, max_frames: int, seconds_per_frame: float,
                       setting: str = "asr_short_clip_window_s") -> int:
    """Mel frames the encoder gets for a padded clip of ``clip_frames``: the clip filled out with silence
    to ``window_s`` seconds (never less than the clip, never more than Whisper's ``max_frames`` window),
    an even count (the encoder halves the frame rate; an odd clip loses its last 10 ms of padding).

    Why not always the full 30 s: the encoder's cost grows with the window, and for a 1-3 s query it
    is most of the work; why not the clip's own length: Whisper, trained on 30-second windows, then
    repeats or invents words (BENCHMARKS.md, "Short-clip path")."""
    if not 0 < window_s <= max_frames * seconds_per_frame:
        raise InvalidInput(f"MediaConfig.{setting}: {window_s} is not in (0, "
                           f"{max_frames * seconds_per_frame:g}] seconds")
    frames = min(max_frames, max(clip_frames, int(round(window_s / seconds_per_frame))))
    return frames - frames % 2


def clip_languages(whisper, encoded) -> dict[str, float]:
    """Language code -> probability for an encoded clip (Whisper's 99 languages)."""
    return {token[2:-2]: p for token, p in whisper.model.detect_language(encoded)[0]}


def decode_clip(whisper, encoded, language: str, multilingual: bool = True, settings: MediaConfig | None = None,
                hints: Sequence[str] = ()) -> tuple[list[Reading], float]:
    """The beam search's ``settings.asr_nbest`` readings of an encoded clip in ``language`` (beam
    order) and the no-speech probability; ``hints`` prompt the recogniser (see :func:`transcribe_clip`)."""
    fw = require("faster_whisper", "media", "faster-whisper")
    settings = settings or MediaConfig()
    tokenizer = fw.tokenizer.Tokenizer(whisper.hf_tokenizer, multilingual, task="transcribe", language=language)
    prompt = whisper.get_prompt(tokenizer, [], without_timestamps=True,
                                hotwords=" ".join(hints) if hints else None)
    nbest = max(1, settings.asr_nbest)
    result = whisper.model.generate(
        encoded, [prompt], beam_size=max(settings.asr_beam_size, nbest), num_hypotheses=nbest,
        max_length=whisper.max_length, return_scores=True, return_no_speech_prob=True, suppress_blank=True,
        suppress_tokens=fw.transcribe.get_suppressed_tokens(tokenizer, [-1]))[0]
    readings = []
    for ids, score in zip(result.sequences_ids, result.scores):
        text = tokenizer.decode(ids).strip()
        if text:  # score is the length-normalised sum; faster-whisper's average counts the end token too
            readings.append(Reading(text, float(score) * len(ids) / (len(ids) + 1)))
    return readings, float(result.no_speech_prob)


def choose_reading(readings: list[Reading], no_speech: float, settings: MediaConfig | None = None,
                   prefer: Callable[[str], int] | None = None) -> list[Reading]:
    """``readings`` with the chosen one first ([] when the clip holds no speech: the no-speech
    probability is high and the best reading unlikely). ``prefer`` scores a reading (how many of
    its words the library holds); the highest scoring reading wins, the beam's order breaking ties."""
    settings = settings or MediaConfig()
    if not readings or (no_speech > settings.asr_short_clip_no_speech_prob
                        and readings[0].logprob < settings.asr_short_clip_min_logprob):
        return []
    readings = list(readings)
    if prefer is not None:
        best = max(range(len(readings)), key=lambda i: (prefer(readings[i].text), -i))
        readings.insert(0, readings.pop(best))
    return readings


def transcribe_clip(whisper, audio: np.ndarray, multilingual: bool = True, language: str | None = None,
                    settings: MediaConfig | None = None, hints: Sequence[str] = (),
                    prefer: Callable[[str], int] | None = None) -> tuple[list[Reading], str, float]:
    """A short clip's n-best readings (the chosen one first), its language and no-speech probability.

    Why not faster-whisper's ``transcribe``: a 1-3 s query needs what it does not give together --
    silence padded around the clip, one encoder pass shared by language detection and decoding
    (:func:`encode_clip`), the beam's n-best readings (:func:`decode_clip`), and a prompt of
    ``hints`` (words of the library searched: they steer the spelling toward words that can match).
    The language is detected among ``settings.asr_languages`` (all of Whisper's when empty);
    ``prefer`` picks among the readings (:func:`choose_reading`). No readings: no speech."""
    settings = settings or MediaConfig()
    if not multilingual:
        language = "en"
    encoded = encode_clip(whisper, audio, settings, language is not None or bool(settings.asr_languages))
    if language is None:
        language = _likeliest(clip_languages(whisper, encoded), settings.asr_languages)
    readings, no_speech = decode_clip(whisper, encoded, language, multilingual, settings, hints)
    return choose_reading(readings, no_speech, settings, prefer), language, no_speech


def _speech_audio(path: str | os.PathLike, settings: MediaConfig) -> np.ndarray | None:
    """The file's audio, or None when it holds no sound track or digital silence (Whisper would
    only invent words)."""
    audio = decode_audio(path)
    return None if is_silent(audio, settings.asr_silence_peak) else audio


def _is_short_clip(audio: np.ndarray, settings: MediaConfig) -> bool:
    """Whether ``audio`` takes the short-clip path (:func:`transcribe_clip`): a spoken query."""
    return settings.asr_short_clip_path and audio.size / SAMPLE_RATE <= settings.asr_short_clip_s


@contextmanager
def _recognition_errors(path: str | os.PathLike) -> Iterator[None]:
    """ctranslate2's errors are untyped: any failure but a settings error names the file."""
    try:
        yield
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001 - ctranslate2 errors are untyped
        raise MediaError(f"{Path(path)}: speech recognition failed ({type(exc).__name__}: {exc})") from exc


def hear(path: str | os.PathLike, settings: MediaConfig | None = None, hints: Sequence[str] = (),
         prefer: Callable[[str], int] | None = None) -> tuple[list[Reading], str | None]:
    """A spoken query's readings (the chosen one first) and its language: ([], None) for no speech.

    A short clip (``settings.asr_short_clip_s``) gives the beam's n-best (:func:`transcribe_clip`),
    which a query may embed together (:func:`xmodal.ingest.search.spoken_query`); a longer
    recording gives one reading, its whole transcript (average log-probability of its segments)."""
    settings = settings or MediaConfig()
    audio = _speech_audio(path, settings)
    if audio is None:
        return [], None
    if not _is_short_clip(audio, settings):
        segments = _transcribe_audio(path, audio, settings, None, None, hints, prefer, False)
        if not segments:
            return [], None
        logprobs = [s.logprob for s in segments if s.logprob is not None]
        return ([Reading(" ".join(s.text.strip() for s in segments).strip(),
                         float(np.mean(logprobs)) if logprobs else 0.0)], segments[0].language)
    name = settings.asr_model
    with _recognition_errors(path):
        readings, language, _ = transcribe_clip(whisper_model(name, settings.asr_threads), audio,
                                                is_multilingual(name), None, settings, hints, prefer)
    return readings, (language if readings else None)


def transcribe(path: str | os.PathLike, show_progress: bool | None = False, model: str | None = None,
               language: str | None = None, settings: MediaConfig | None = None, hints: Sequence[str] = (),
               prefer: Callable[[str], int] | None = None) -> list[Segment]:
    """Timed transcript of the speech in an audio or video file ([] when there is none).

    ``settings``: the model, threads, languages and decoding options (default ``MediaConfig()``).
    ``model``: ``base`` or ``tiny.en`` (default: ``settings.asr_model``). ``language``: force a
    language code instead of detecting it (multilingual models only). Each segment carries the
    language the model detected (or was given). ``show_progress``: a bar in seconds of audio
    (None: when stderr is a terminal). Clips up to ``settings.asr_short_clip_s`` go through
    :func:`transcribe_clip` (with ``hints`` and ``prefer``, which only it uses)."""
    settings = settings or MediaConfig()
    audio = _speech_audio(path, settings)
    if audio is None:
        return []
    return _transcribe_audio(path, audio, settings, model, language, hints, prefer, show_progress)


def _transcribe_audio(path: str | os.PathLike, audio: np.ndarray, settings: MediaConfig, model: str | None,
                      language: str | None, hints: Sequence[str], prefer: Callable[[str], int] | None,
                      show_progress: bool | None) -> list[Segment]:
    """:func:`transcribe` of audio already decoded from ``path`` (named in errors)."""
    from xmodal.progress import progress

    name = model or settings.asr_model
    whisper = whisper_model(name, settings.asr_threads)
    multilingual = is_multilingual(name)
    out: list[Segment] = []
    seconds = audio.size / SAMPLE_RATE
    with _recognition_errors(path):
        if _is_short_clip(audio, settings):
            readings, lang, _ = transcribe_clip(whisper, audio, multilingual, language, settings, hints, prefer)
            return [Segment(0.0, seconds, readings[0].text, lang, readings[0].logprob)] if readings else []
        if multilingual and language is None and settings.asr_languages:
            language = likeliest_language(whisper, audio, settings.asr_languages)
        segments, info = whisper.transcribe(audio, **decoding_options(seconds, multilingual, language, settings))
        lang = info.language if multilingual else "en"
        with progress(show_progress) as bar:
            task = bar.add_task("speech", total=round(seconds))
            for s in segments:  # a generator: recognition happens while iterating
                out.extend(sentences(s, lang))
                bar.update(task, completed=round(s.end))
    return [s for s in out if s.text]
