"""detect_kind decides by content: mislabelled files are recognised for what they are."""
import io
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.media.helpers import audio_only_mp4, make_video, solid, speak, transcode_audio, webm_video
from xmodal.errors import MediaError
from xmodal.media import detect_kind


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buf, format="JPEG")
    return buf.getvalue()


def _wav_bytes() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(1600, np.int16).tobytes())
    return buf.getvalue()


@pytest.mark.parametrize("name,content,kind", [
    ("photo.txt", _jpeg_bytes(), "image"),
    ("song.mp3", _png_bytes(), "image"),
    ("picture.jpg", _wav_bytes(), "audio"),
    ("notes.png", b"Meeting notes: buy milk and call Anna.\n", "text"),
    ("page.bin", b"<!DOCTYPE html><html><body><p>hi</p></body></html>", "text"),
    ("doc.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "text"),
    ("drawing.txt", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>', "image"),
    ("chinese.dat", "猫在沙发上睡觉。今天天气很好。".encode("utf-8"), "text"),
    ("archive.txt", b"PK\x03\x04" + bytes(range(256)) * 4, None),
    ("random.jpg", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), None),
    ("empty.txt", b"", None),
])
def test_kind_from_content_not_name(tmp_path: Path, name, content, kind):
    path = tmp_path / name
    path.write_bytes(content)
    assert detect_kind(path) == kind


def test_video_and_audio_only_mp4_told_apart(tmp_path: Path):
    video = make_video(tmp_path / "clip.bin", [(solid((255, 0, 0)), 0.5)])
    assert detect_kind(video) == "video"
    speech = speak("hello there", tmp_path / "hello.wav")
    # An audio-only MPEG-4 container under a neutral name: the demuxer settles it.
    audio_mp4 = audio_only_mp4(speech, tmp_path / "voice.data")
    assert detect_kind(audio_mp4) == "audio"


def test_missing_file_and_directory_raise_media_error(tmp_path: Path):
    with pytest.raises(MediaError, match="not found"):
        detect_kind(tmp_path / "nope.jpg")
    with pytest.raises(MediaError, match="directory"):
        detect_kind(tmp_path)


@pytest.mark.parametrize("container,codec,name", [
    ("flac", "flac", "a.jpg"), ("ogg", "libopus", "b.txt"), ("mp3", "libmp3lame", "c.mp4"),
    ("matroska", "flac", "d.mkv"),
])
def test_audio_containers_under_wrong_names(tmp_path: Path, container, codec, name):
    wav = speak("one two", tmp_path / "src.wav")
    assert detect_kind(transcode_audio(wav, tmp_path / name, container, codec)) == "audio"


def test_webm_video_named_as_audio(tmp_path: Path):
    assert detect_kind(webm_video(tmp_path / "song.ogg")) == "video"
