"""Decoding one file into the pieces that get vectors: the item itself plus its chunks, OCR text,
video frames and transcript segments, each with the evidence (time, text) shown in results.

This runs in worker processes, so it returns plain data (PIL images, strings, floats) and writes
nothing but the item's thumbnail.
"""
from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from xmodal._optional import require
from xmodal.config import Config
from xmodal.errors import MediaError
from xmodal.ingest.sound import SOUND, sound_content
from xmodal.media import chunk_text, extract_frames, load_image, load_text, ocr_lines, transcribe

__all__ = ["VISUAL", "TEXT", "ExtractedUnit", "Decoded", "guess_language", "name_words", "decode",
           "confident_ocr_blocks"]

VISUAL = "visual"  # vector field: image space (photos, drawings, video frames)
TEXT = "text"  # vector field: text space (documents, OCR text, transcripts)

_SCRIPTS = (  # (language, regex of its script); checked by share of letters
    ("zh", re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
)
_ENGLISH = {"the", "and", "of", "to", "a", "in", "is", "it", "with", "for", "on", "from", "this", "you"}


@dataclass
class ExtractedUnit:
    """One thing to encode. ``role`` is ``item`` for the item's own row, else the child's kind."""

    role: str  # item | chunk | ocr | frame | speech | sound | name
    field: str  # VISUAL, TEXT or SOUND
    content: Any  # a PIL image for VISUAL, a string for TEXT, pooled audio features for SOUND
    time: float | None = None
    end: float | None = None
    text: str = ""  # evidence text (the passage, OCR line or transcript span)
    asr_logprob: float | None = None  # speech: the recogniser's average log-probability of the words


@dataclass
class Decoded:
    kind: str
    mime: str
    units: list[ExtractedUnit]
    meta: dict = field(default_factory=dict)  # width, height, duration, language, title, thumbnail


def guess_language(text: str) -> str | None:
    """A script-level guess (enough to filter a library by language); ``None`` when unsure."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    for lang, script in _SCRIPTS:
        if len(script.findall(text)) / len(letters) > 0.3:
            return lang
    words = re.findall(r"[a-z]+", text.lower())
    if words and sum(w in _ENGLISH for w in words) / len(words) > 0.08:
        return "en"
    return None


def name_words(path: Path) -> str:
    """A file name as words ("red-apple_2.png" -> "red apple 2"): the last resort to find an item."""
    return re.sub(r"[_\-.]+", " ", path.stem).strip()


def _evidence(text: str, limit: int) -> str:
    """``text`` with its whitespace collapsed, cut to ``limit`` characters (the library's
    ``settings.ingest.evidence_chars``) with an ellipsis: what a result quotes."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _mime(path: Path, kind: str) -> str:
    mime, _ = mimetypes.guess_type(path.name)
    return mime or f"{kind}/{path.suffix.lstrip('.').lower() or 'octet-stream'}"


def _thumbnail(img, thumbs_dir: Path | None, digest: str, side: int) -> str | None:
    """The item's JPEG thumbnail, at most ``side`` pixels a side (``settings.media.thumbnail_size``)."""
    if thumbs_dir is None:
        return None
    thumbs_dir.mkdir(parents=True, exist_ok=True)
    out = thumbs_dir / f"{digest}.jpg"  # the library deletes it by this name with the item
    if not out.exists():
        thumb = img.convert("RGB").copy()
        thumb.thumbnail((side, side))
        tmp = out.with_suffix(".tmp")
        thumb.save(tmp, format="JPEG", quality=80)
        tmp.replace(out)
    return str(out)


def _text_units(text: str, role: str, settings: Config) -> list[ExtractedUnit]:
    units = []
    limit = settings.ingest.evidence_chars
    for chunk in chunk_text(text, settings=settings.media):
        if chunk.text.strip():
            units.append(ExtractedUnit(role, TEXT, chunk.text, text=_evidence(chunk.text, limit)))
    return units


def _speech_units(path: Path, settings: Config) -> tuple[list[ExtractedUnit], str | None]:
    """Transcript segments as units, and the language the speech model heard (None: no speech)."""
    segs = [s for s in transcribe(path, settings=settings.media) if s.text.strip()]
    limit = settings.ingest.evidence_chars
    units = [ExtractedUnit("speech", TEXT, s.text.strip(), time=float(s.start), end=float(s.end),
                           text=_evidence(s.text, limit), asr_logprob=s.logprob) for s in segs]
    return units, (segs[0].language if segs else None)


def decode(path: str, kind: str, digest: str, thumbs_dir: Path | None = None, ocr: bool = True,
           speech: bool = True, settings: Config | None = None) -> Decoded:
    """Decode ``path`` (whose kind the media layer detected) into units; raises MediaError.
    ``settings``: the library's (how media is decoded, how long evidence is, OCR and frame limits)."""
    settings = settings or Config()
    limit = settings.ingest.evidence_chars
    side = settings.media.thumbnail_size
    p = Path(path)
    meta: dict = {"name": name_words(p)}
    units: list[ExtractedUnit] = []
    if kind == "image":
        img = load_image(p, settings=settings.media)
        meta.update(width=img.width, height=img.height, thumbnail=_thumbnail(img, thumbs_dir, digest, side))
        units.append(ExtractedUnit("item", VISUAL, img))
        if ocr:
            blocks = confident_ocr_blocks(ocr_lines(img, settings.media), settings.ingest.ocr_line_min_confidence)
            if blocks:
                meta["language"] = guess_language("\n".join(blocks))
                units += [ExtractedUnit("ocr", TEXT, block, text=_evidence(block, limit)) for block in blocks]
    elif kind == "text":
        text = load_text(p, settings.media)
        meta["language"] = guess_language(text)
        chunks = _text_units(text, "chunk", settings)
        if chunks:
            first = chunks[0]
            units.append(ExtractedUnit("item", TEXT, first.content, text=first.text))
            units += chunks[1:]
    elif kind == "audio":
        segs, heard = _speech_units(p, settings) if speech else ([], None)
        meta["duration"] = _duration(p)
        if segs:
            meta["language"] = heard or guess_language(" ".join(u.content for u in segs))
            whole = " ".join(u.content for u in segs)
            units.append(ExtractedUnit("item", TEXT, whole, time=segs[0].time, text=_evidence(whole, limit)))
            units += segs
    elif kind == "video":
        meta["duration"] = _duration(p)
        every = settings.media.video_frame_interval_s
        if meta["duration"]:
            every = max(every, meta["duration"] / settings.ingest.video_max_frames)
        frames = extract_frames(p, every, settings=settings.media)
        if frames:
            first = frames[0].image
            meta.update(width=first.width, height=first.height, thumbnail=_thumbnail(first, thumbs_dir, digest, side))
            units.append(ExtractedUnit("item", VISUAL, first, time=float(frames[0].time)))
            units += [ExtractedUnit("frame", VISUAL, f.image, time=float(f.time)) for f in frames]
        if speech:
            segs, heard = _speech_units(p, settings)
            if segs:
                meta["language"] = heard or guess_language(" ".join(u.content for u in segs))
            units += segs
    else:
        raise MediaError(f"{path}: unsupported kind {kind!r}")
    if kind in ("audio", "video") and speech:
        heard = sound_content(p)  # what it sounds like (see xmodal.ingest.sound); None: silent
        if heard is not None:
            units.append(ExtractedUnit(SOUND, SOUND, heard))
    if not any(u.role == "item" for u in units):
        # Nothing to see or read (silent audio, empty document): findable by its name at least.
        units.insert(0, ExtractedUnit("item", TEXT, meta["name"] or p.name, text=""))
    return Decoded(kind=kind, mime=_mime(p, kind), units=units, meta=meta)


def confident_ocr_blocks(lines: Sequence[Any], min_confidence: float) -> list[str]:
    """OCR paragraphs (lines sharing a block, joined by spaces), each one piece of evidence, built
    from the lines read with at least ``min_confidence`` (0..1) only: what the reader was unsure of
    is texture more often than text, and must neither match a keyword nor be quoted."""
    blocks: dict[int, list[str]] = {}
    for line in lines:
        if line.confidence >= min_confidence and line.text.strip():
            blocks.setdefault(line.block, []).append(" ".join(line.text.split()))
    return [" ".join(parts) for _, parts in sorted(blocks.items())]


def _duration(path: Path) -> float | None:
    """Container duration in seconds (PyAV), or None when the container does not say."""
    av = require("av", "media")
    try:
        with av.open(str(path)) as c:
            if c.duration:
                return float(c.duration) / 1_000_000
            for s in c.streams:
                if s.duration and s.time_base:
                    return float(s.duration * s.time_base)
    except Exception as exc:  # noqa: BLE001 - av raises many error types; all mean "undecodable"
        raise MediaError(f"{path}: cannot read the media container ({exc})") from exc
    return None
