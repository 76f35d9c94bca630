"""Speech recognition of espeak-ng clips, and videos made of known frames plus a speech track."""
from pathlib import Path

import pytest

from tests.media.helpers import make_video, solid, speak
from xmodal.errors import InvalidInput, MediaError
from xmodal.media import decode_audio, extract_frames, transcribe

SENTENCE = "The quick brown fox jumps over the lazy dog"


def _words(text: str) -> set[str]:
    return {w.strip(".,!?").lower() for w in text.split()}


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    return speak(SENTENCE, tmp_path_factory.mktemp("asr") / "fox.wav")


@pytest.fixture(scope="module")
def video(tmp_path_factory, speech_wav) -> Path:
    folder = tmp_path_factory.mktemp("video")
    frames = [(solid((255, 0, 0)), 2.0), (solid((0, 0, 255)), 2.0), (solid((0, 255, 0)), 2.0)]
    return make_video(folder / "squares.mp4", frames, speech_wav=speech_wav)


def test_espeak_clip_is_transcribed(speech_wav):
    segments = transcribe(speech_wav, show_progress=True)
    text = " ".join(s.text for s in segments)
    overlap = len(_words(text) & _words(SENTENCE)) / len(_words(SENTENCE))
    assert overlap >= 0.7, text
    assert segments[0].start >= 0 and segments[-1].end <= 5.0 and all(s.end > s.start for s in segments)


def test_video_frames_come_at_the_asked_times(video):
    frames = extract_frames(video, every_s=1.0)
    assert [f.time for f in frames] == pytest.approx([0, 1, 2, 3, 4, 5], abs=0.11)
    colours = [max(range(3), key=lambda c: f.image.getpixel((80, 60))[c]) for f in frames]
    assert colours == [0, 0, 2, 2, 1, 1]  # red, red, blue, blue, green, green


def test_sparse_sampling_seeks(video):
    frames = extract_frames(video, every_s=100.0)
    assert len(frames) == 1 and frames[0].time == pytest.approx(0, abs=0.11)
    assert frames[0].image.getpixel((80, 60))[0] > 200


def test_video_sound_track_is_transcribed_with_timestamps(video):
    segments = transcribe(video)
    text = " ".join(s.text for s in segments)
    assert len(_words(text) & _words(SENTENCE)) / len(_words(SENTENCE)) >= 0.7, text
    assert 0 <= segments[0].start < 1.0 and segments[-1].end <= 6.5


def test_silent_video_has_no_transcript(tmp_path: Path):
    silent = make_video(tmp_path / "silent.mp4", [(solid((10, 10, 10)), 0.5)])
    assert decode_audio(silent).size == 0
    assert transcribe(silent) == []


def test_broken_media_raise_media_error(tmp_path: Path, video, speech_wav):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[:200])
    with pytest.raises(MediaError, match="cut.mp4"):
        extract_frames(cut, 1.0)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty.wav.*empty file"):
        transcribe(empty)
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"\x00\x01 not audio at all " * 20)
    with pytest.raises(MediaError, match="junk.mp3"):
        transcribe(junk)
    with pytest.raises(MediaError, match="no video stream"):
        extract_frames(speech_wav, 1.0)
    with pytest.raises(InvalidInput):
        extract_frames(video, 0)


def test_large_frames_are_scaled_down_keeping_the_aspect(tmp_path: Path):
    from xmodal.config import CONFIG

    big = make_video(tmp_path / "fullhd.mp4", [(solid((200, 30, 30), size=(1920, 1080)), 0.2)])
    frame = extract_frames(big, 1.0)[0].image
    assert max(frame.size) == CONFIG.media.video_frame_max_side
    assert frame.width / frame.height == pytest.approx(1920 / 1080, rel=0.01)


def test_unchanged_frames_can_be_dropped(video):
    frames = extract_frames(video, every_s=0.5, min_change=0.05)
    assert [f.time for f in frames] == pytest.approx([0, 2, 4], abs=0.11)  # one per colour
    assert len(extract_frames(video, every_s=0.5)) == 12  # default keeps every sample
    with pytest.raises(InvalidInput):
        extract_frames(video, 1.0, min_change=2.0)


def test_truncated_video_keeps_the_frames_before_the_damage(tmp_path: Path):
    frames = [(solid((255, 0, 0)), 2.0), (solid((0, 0, 255)), 2.0), (solid((0, 255, 0)), 2.0)]
    full = make_video(tmp_path / "stream.ts", frames, container="mpegts")  # streamable: no index at the end
    data = full.read_bytes()
    cut = tmp_path / "half.ts"
    cut.write_bytes(data[: len(data) // 2])
    kept = extract_frames(cut, 1.0)
    assert 1 <= len(kept) < 6 and kept[0].time == pytest.approx(0, abs=0.11)
    assert kept[0].image.getpixel((80, 60))[0] > 200
