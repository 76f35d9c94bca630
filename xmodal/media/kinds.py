"""What a file *is*, decided by its bytes, because names lie (``photo.txt`` that is a JPEG, a
``.mp4`` that holds only audio, a download saved without an extension).

The extension only breaks ties between containers that hold either audio or video.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional

from xmodal.config import MediaConfig
from xmodal.media.files import read_file
from xmodal.media.images import HEIF_BRANDS

__all__ = ["Kind", "KINDS", "IMAGE_EXTS", "TEXT_EXTS", "AUDIO_EXTS", "VIDEO_EXTS", "detect_kind"]

Kind = Literal["image", "text", "audio", "video"]
KINDS: tuple[str, ...] = ("image", "text", "audio", "video")

IMAGE_EXTS = frozenset(".jpg .jpeg .png .gif .bmp .webp .tif .tiff .svg .svgz .ico .heic .avif".split())
TEXT_EXTS = frozenset(".txt .md .markdown .rst .html .htm .xhtml .pdf .csv .json .log".split())
AUDIO_EXTS = frozenset(".wav .mp3 .flac .ogg .oga .opus .m4a .aac .aiff .aif .wma .mka".split())
VIDEO_EXTS = frozenset(".mp4 .m4v .mov .mkv .webm .avi .ogv .mpg .mpeg .ts .flv .wmv .3gp".split())

# ISO-BMFF brands (bytes 8..12 after "ftyp") that only ever hold still images or only audio.
_FTYP_IMAGE = HEIF_BRANDS + (b"avif", b"avis")
_FTYP_AUDIO = (b"M4A ", b"M4B ", b"M4P ", b"F4A ")


def _by_extension(path: Path) -> Optional[str]:
    ext = path.suffix.lower()
    for kind, exts in (("image", IMAGE_EXTS), ("text", TEXT_EXTS), ("audio", AUDIO_EXTS), ("video", VIDEO_EXTS)):
        if ext in exts:
            return kind
    return None


def _looks_like_text(head: bytes, max_control_ratio: float) -> bool:
    """Mostly printable UTF-8 / UTF-16 / single-byte text with no NUL bytes."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # UTF-16 with BOM
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the read window
            return True
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return control / max(1, len(head)) < max_control_ratio


def _has_video_stream(path: Path) -> Optional[bool]:
    """Ask the demuxer (PyAV) whether an ambiguous container holds video; None if it cannot say.
    Album art is stored as a one-picture "video" stream flagged attached_pic: that is still audio."""
    try:
        import av
        from av.stream import Disposition
    except ImportError:
        return None
    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            return any(not (s.disposition & Disposition.attached_pic) for s in c.streams.video)
    except Exception:  # noqa: BLE001 - undecodable: let the loader report it
        return None


def _audio_or_video(path: Path, default: str) -> str:
    """Containers that carry either (MP4, Matroska/WebM, Ogg): the streams inside decide; the
    extension only when the demuxer cannot tell (damaged file, PyAV missing)."""
    probed = _has_video_stream(path)
    if probed is not None:
        return "video" if probed else "audio"
    ext_kind = _by_extension(path)
    return ext_kind if ext_kind in ("audio", "video") else default


def detect_kind(path: str | os.PathLike, settings: MediaConfig | None = None) -> Optional[str]:
    """``"image" | "text" | "audio" | "video"`` from the file's leading bytes, or None when the
    content is none of these (an archive, an executable, an empty file). ``settings``: how many
    bytes to sniff and what share of control bytes still reads as text."""
    settings = settings or MediaConfig()
    path = Path(path)
    head = read_file(path, prefix=settings.sniff_bytes)
    if not head:
        return None

    # Still images.
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*",
                        b"\x00\x00\x01\x00")) or (head.startswith(b"BM") and len(head) > 14 and head[6:10] == b"\0\0\0\0"):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    # RIFF family: WAVE audio, AVI video.
    if head[:4] == b"RIFF":
        if head[8:12] == b"WAVE":
            return "audio"
        if head[8:12] == b"AVI ":
            return "video"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio"
    if head.startswith((b"fLaC", b"ID3", b"#!AMR", b".snd")) or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2",
                                                                           b"\xff\xfa", b"\xff\xf1", b"\xff\xf9"):
        return "audio"
    if head.startswith(b"OggS"):
        if b"theora" in head or b"\x80theora" in head or b"OVP80" in head:
            return "video"
        return "audio" if (b"vorbis" in head or b"OpusHead" in head or b"FLAC" in head) else _audio_or_video(path, "audio")
    # ISO base media (mp4 / mov / m4a / heic).
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _FTYP_IMAGE:
            return "image"
        if brand in _FTYP_AUDIO:
            return "audio"
        return _audio_or_video(path, "video")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return _audio_or_video(path, "video")
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return _audio_or_video(path, "video")
    if head.startswith((b"FLV", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")):
        return "video" if not head.startswith(b"\x30\x26") else _audio_or_video(path, "video")
    if len(head) > 188 * 2 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "video"  # MPEG transport stream
    if head.startswith(b"%PDF"):
        return "text"
    if _looks_like_text(head, settings.text_max_control_ratio):
        lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if lowered.startswith(b"<svg") or (lowered.startswith(b"<?xml") and b"<svg" in lowered) \
                or (lowered.startswith(b"<!doctype svg")):
            return "image"
        return "text"
    return None
