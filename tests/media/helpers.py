"""Real media files made on the fly for the media and encoder tests (no fixtures checked in)."""
from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
CJK_FONT = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"


def text_image(lines: list[str], size=(900, 140), font_path: str = FONT, font_size: int = 44) -> Image.Image:
    """White picture with black text lines drawn in a real TrueType font."""
    img = Image.new("RGB", (size[0], size[1] * len(lines)), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(font_path, font_size)
    for i, line in enumerate(lines):
        draw.text((30, 30 + i * size[1]), line, font=font, fill="black")
    return img


def speak(text: str, out: Path, speed: int = 150, voice: str | None = None) -> Path:
    """A WAV of espeak-ng reading ``text`` (``voice``: e.g. ``en-us``; default espeak's own)."""
    subprocess.run(["espeak-ng", *(["-v", voice] if voice else []), "-s", str(speed), "-w", str(out), text],
                   check=True, capture_output=True)
    return out


def solid(color: tuple[int, int, int], size=(160, 120)) -> Image.Image:
    return Image.new("RGB", size, color)


def make_video(out: Path, frames: list[tuple[Image.Image, float]], fps: int = 10,
               speech_wav: Path | None = None, container: str = "mp4") -> Path:
    """MP4 (mpeg4 video + AAC audio) showing each image for its duration in seconds, with the
    WAV's speech as the sound track; ``container="mpegts"`` for a streamable file."""
    import av

    with av.open(str(out), mode="w", format=container) as c:
        w, h = frames[0][0].size
        vs = c.add_stream("mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.time_base = Fraction(1, fps)
        a_stream = None
        if speech_wav is not None:
            a_stream = c.add_stream("aac", rate=16000)
            a_stream.layout = "mono"
        n = 0
        for img, seconds in frames:
            for _ in range(int(round(seconds * fps))):
                vf = av.VideoFrame.from_image(img.convert("RGB"))
                vf.pts = n
                n += 1
                for p in vs.encode(vf):
                    c.mux(p)
        for p in vs.encode():
            c.mux(p)
        if a_stream is not None:
            _encode_audio(speech_wav, a_stream, c)
    return out


def _encode_audio(wav: Path, stream, container) -> None:
    """Decode the WAV, resample to what ``stream``'s encoder takes, encode and mux it."""
    import av

    with av.open(str(wav)) as src:
        fmt = stream.codec_context.codec.audio_formats[0].name
        resampler = av.AudioResampler(format=fmt, layout="mono", rate=stream.codec_context.sample_rate)
        pts = 0
        for frame in src.decode(audio=0):
            for rf in resampler.resample(frame):
                rf.pts = pts
                pts += rf.samples
                for p in stream.encode(rf):
                    container.mux(p)
    for p in stream.encode():
        container.mux(p)


def audio_only_mp4(wav: Path, out: Path) -> Path:
    """An MPEG-4 container holding only an AAC sound track (what phones save voice notes as)."""
    import av

    with av.open(str(out), mode="w", format="mp4") as c:
        stream = c.add_stream("aac", rate=16000)
        stream.layout = "mono"
        _encode_audio(wav, stream, c)
    return out


def write_jpeg(img: Image.Image, path: Path, quality: int = 90, exif_orientation: int | None = None) -> Path:
    exif = Image.Exif()
    if exif_orientation:
        exif[0x0112] = exif_orientation
    img.save(path, format="JPEG", quality=quality, exif=exif.tobytes())
    return path


def noise_image(seed: int, size=(640, 480)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def transcode_audio(wav: Path, out: Path, container: str, codec: str, rate: int = 48000) -> Path:
    """The WAV's sound re-encoded into another container / codec (FLAC, Ogg Opus, MP3, Matroska)."""
    import av

    with av.open(str(out), mode="w", format=container) as c:
        stream = c.add_stream(codec, rate=rate)
        stream.layout = "mono"
        _encode_audio(wav, stream, c)
    return out


def webm_video(out: Path, seconds: float = 0.5, fps: int = 10) -> Path:
    """A VP8 WebM clip (Matroska container, what browsers record)."""
    import av

    with av.open(str(out), mode="w", format="webm") as c:
        vs = c.add_stream("libvpx", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for i in range(int(seconds * fps)):
            vf = av.VideoFrame.from_image(Image.new("RGB", (64, 48), (200, 50, 50)))
            vf.pts = i
            for p in vs.encode(vf):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
    return out
