"""Videos -> frames at regular times (each a PIL image with its timestamp), for indexing what is
seen; the sound track goes through :func:`xmodal.media.transcribe` like any audio file."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xmodal._optional import require
from xmodal.config import MediaConfig
from xmodal.errors import InvalidInput, MediaError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Frame", "extract_frames"]


@dataclass
class Frame:
    time: float  # seconds from the start
    image: "Image.Image"  # RGB


def _open(path: Path):
    av = require("av", "media")
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001
        raise MediaError(f"{path}: not a readable video container ({type(exc).__name__}: {exc})") from exc
    if not container.streams.video:
        container.close()
        raise MediaError(f"{path}: has no video stream")
    return container


def _to_image(frame, limit: int):
    """RGB picture of a frame, scaled down (by the decoder's scaler) when larger than ``limit``
    (``MediaConfig.video_frame_max_side``): a 4K frame is 25 MB, and nothing downstream needs it."""
    longest = max(frame.width, frame.height)
    if longest <= limit:
        return frame.to_image()
    scale = limit / longest
    return frame.to_image(width=max(2, round(frame.width * scale)), height=max(2, round(frame.height * scale)))


def _frame_time(frame, stream) -> float | None:
    if frame.pts is None:
        return None
    base = frame.time_base or stream.time_base
    start = stream.start_time or 0
    return float((frame.pts - start) * base)


def extract_frames(video: str | os.PathLike, every_s: float | None = None,
                   max_frames: int | None = None, min_change: float | None = None,
                   settings: MediaConfig | None = None) -> list[Frame]:
    """One frame at t = 0, every_s, 2*every_s, ... (the first decoded frame at or after each time).

    Sparse sampling of long videos seeks to each time instead of decoding everything in between.
    ``min_change`` (default ``MediaConfig.video_min_frame_change``; 0 keeps all): a frame that
    differs from the last kept one by less than this mean share of intensity is dropped, so a
    lecture's unchanged slide is one frame, not thirty. A truncated file keeps the frames decoded
    before the damage. ``settings``: the defaults above, when to seek, and the frames' largest side.
    """
    settings = settings or MediaConfig()
    every_s = settings.video_frame_interval_s if every_s is None else float(every_s)
    if not every_s > 0:
        raise InvalidInput(f"frame interval must be positive, got {every_s}")
    min_change = settings.video_min_frame_change if min_change is None else float(min_change)
    if not 0 <= min_change <= 1:
        raise InvalidInput(f"min_change is a share of intensity in [0, 1], got {min_change}")
    path = Path(video)
    container = _open(path)
    frames: list[Frame] = []
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        if duration and every_s >= settings.video_seek_min_interval_s:
            _by_seeking(container, stream, every_s, duration, max_frames, frames, settings.video_frame_max_side)
        else:
            _by_decoding(container, stream, every_s, max_frames, frames, settings.video_frame_max_side)
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises many types for damaged input
        if not frames:
            raise MediaError(f"{path}: cannot decode video ({type(exc).__name__}: {exc})") from exc
    finally:
        container.close()
    if not frames:
        raise MediaError(f"{path}: no decodable video frame")
    return _drop_repeats(frames, min_change, settings.video_change_thumb_side) if min_change > 0 else frames


def _by_decoding(container, stream, every_s: float, max_frames: int | None, frames: list[Frame],
                 max_side: int) -> None:
    next_t = 0.0
    for i, frame in enumerate(container.decode(stream)):
        t = _frame_time(frame, stream)
        if t is None:
            t = i / float(stream.average_rate or 25)
        if t + 1e-6 >= next_t or not frames:
            frames.append(Frame(round(max(t, 0.0), 3), _to_image(frame, max_side)))
            next_t = (int(t / every_s) + 1) * every_s
            if max_frames and len(frames) >= max_frames:
                break


def _by_seeking(container, stream, every_s: float, duration: float, max_frames: int | None,
                frames: list[Frame], max_side: int) -> None:
    t = 0.0
    while t < duration and not (max_frames and len(frames) >= max_frames):
        container.seek(int(t / stream.time_base) + (stream.start_time or 0), stream=stream, backward=True)
        for frame in container.decode(stream):
            ft = _frame_time(frame, stream)
            if ft is None or ft + 1e-6 >= t:
                frames.append(Frame(round(max(ft or t, 0.0), 3), _to_image(frame, max_side)))
                break
        t += every_s


def _signature(image, side: int) -> "np.ndarray":
    return np.asarray(image.convert("L").resize((side, side)), dtype=np.float32) / 255.0


def _drop_repeats(frames: list[Frame], min_change: float, side: int) -> list[Frame]:
    kept = [frames[0]]
    last = _signature(frames[0].image, side)
    for frame in frames[1:]:
        sig = _signature(frame.image, side)
        if float(np.abs(sig - last).mean()) >= min_change:
            kept.append(frame)
            last = sig
    return kept
