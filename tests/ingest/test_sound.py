"""Sounds in the shared space, end to end with the shipped sound head and real clips.

The clips come from Tux Paint folders the head was never trained on (``tuxpaint_sound_splits``:
``animals/mammals/dogs`` and the percussion folder are validation folders, the birds and household
ones test folders); the files are renamed so their names cannot give them away."""
from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

import xmodal
from tests.ingest.conftest import MODEL
from xmodal.datasets.tuxpaint import tuxpaint_sound_splits
from xmodal.encoders import get_encoder
from xmodal.encoders.sound import bridge_vectors, has_sound_head, load_sound_head, weights_path
from xmodal.errors import InvalidInput, MediaError, StorageError
from xmodal.ingest.calibrate import query_hearing
from xmodal.ingest.ranking import calibration_path, load_calibration
from xmodal.media.sound import LABELS_KEPT, Heard, listen, sound_labels
from xmodal.media.speech import decode_audio

STAMPS = Path("/usr/share/tuxpaint/stamps")
BARK = "animals/mammals/dogs/dog.ogg"
DOGS = ["animals/mammals/dogs/dog.png", "animals/mammals/dogs/dingo.png"]
UNRELATED = ["household/Lightbulb.png", "food/fruit/Strawberry2.png", "town/uk_post_box.png",
             "food/fruit/Apricot_whole.png"]
SOUNDS = {BARK: "clip-1.ogg", "hobbies/music/percussion/cymbal_crash.ogg": "clip-2.ogg",
          "animals/birds/rooster.ogg": "clip-3.ogg", "household/kettle.ogg": "clip-4.ogg",
          "household/vacuum_cleaner.ogg": "clip-5.ogg"}

pytestmark = pytest.mark.skipif(not STAMPS.is_dir(), reason="apt-get install tuxpaint-stamps-default")


def test_the_test_clips_come_from_folders_the_head_never_trained_on():
    trained = {p.speech for p in tuxpaint_sound_splits()["train"]}
    assert not {str(STAMPS / s) for s in SOUNDS} & trained
    assert has_sound_head(MODEL)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    base = tmp_path_factory.mktemp("sounds")
    media = base / "media"
    for rel in DOGS + UNRELATED:
        dest = media / "pictures" / Path(rel).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(STAMPS / rel, dest)
    for rel, name in SOUNDS.items():
        dest = media / "sounds" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(STAMPS / rel, dest)
    lib = xmodal.open(base / "lib.xmdb", model=MODEL)
    report = lib.index([media], progress=False, ocr=False)
    assert not report.failed and report.encoded == len(DOGS) + len(UNRELATED) + len(SOUNDS)
    yield lib, base
    lib.close()


def _rows(lib) -> list:
    return sorted((r.id, r.payload.get("role")) for r in lib.db.collection(lib.collection_name).scroll())


def test_every_sound_gets_a_vector_of_its_own(library):
    lib, _ = library
    col = lib.db.collection(lib.collection_name)
    assert "sound" in col.vector_fields
    sound_rows = list(col.scroll(where={"role": "sound"}))
    assert len(sound_rows) == len(SOUNDS)
    assert {r.payload["kind"] for r in sound_rows} == {"audio"}


def test_a_held_out_bark_ranks_dog_pictures_above_unrelated_ones(library):
    lib, _ = library
    results = lib.search(audio=STAMPS / BARK, kind="image", k=len(DOGS) + len(UNRELATED), min_relevance=0.0)
    names = [Path(r.path).name for r in results]
    assert results.query_text is None  # searched by its sound, not by a transcript
    dog_ranks = [names.index(Path(d).name) for d in DOGS]
    other_ranks = [names.index(Path(u).name) for u in UNRELATED if Path(u).name in names]
    assert max(dog_ranks) < min(other_ranks), names


def test_text_finds_the_bark_among_other_sounds(library):
    lib, _ = library
    results = lib.search(text="a dog barking", kind="audio", k=3, min_relevance=0.0)
    assert Path(results[0].path).name == SOUNDS[BARK]
    assert "sound" in results[0].signals


def _silent(path: Path) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(np.zeros(16000, np.int16).tobytes())
    return path


def test_a_silent_or_corrupt_query_clip_is_a_clear_error_and_changes_nothing(library, tmp_path):
    lib, _ = library
    before = _rows(lib)
    with pytest.raises(InvalidInput, match=r"silent\.wav: no speech .*silent"):
        lib.search(audio=_silent(tmp_path / "silent.wav"), kind="image")
    broken = tmp_path / "broken.ogg"
    broken.write_bytes((STAMPS / BARK).read_bytes()[:300])
    with pytest.raises(MediaError, match=r"broken\.ogg"):
        lib.search(audio=broken, kind="image")
    assert _rows(lib) == before


def test_a_silent_file_is_indexed_without_a_sound_and_a_corrupt_one_fails_alone(library, tmp_path):
    lib, base = library
    before = _rows(lib)
    extra = tmp_path / "extra"
    extra.mkdir()
    _silent(extra / "quiet.wav")
    (extra / "broken.ogg").write_bytes((STAMPS / BARK).read_bytes()[:300])
    report = lib.index([extra], progress=False)
    assert [Path(f.path).name for f in report.failed] == ["broken.ogg"]
    assert "broken.ogg" in report.failed[0].reason
    after = _rows(lib)
    new = [row for row in after if row not in before]
    assert [role for _, role in new] == ["item"]  # the silent file: findable by name, no sound row
    assert set(before) <= set(after)
    lib.remove([extra])
    assert _rows(lib) == before


def test_a_damaged_head_file_is_named(tmp_path):
    bad = tmp_path / "sound-x.npz"
    bad.write_bytes(weights_path(MODEL).read_bytes()[:200])
    with pytest.raises(StorageError, match="sound-x.npz"):
        load_sound_head(bad)


def test_a_stored_sound_as_the_query_is_a_match_and_another_hearing_of_it_ranks_it_first(library, tmp_path):
    """A clip as the query is calibrated as a clip (``sound:*`` mappings, fitted on validation clips
    heard another way), not as a text query: the very same sound is a match a person would call
    one (read as a text query it got 0.28), and a quieter, trimmed, noisy hearing of it still finds
    it first among the sounds."""
    lib, _ = library
    copy = tmp_path / "the-same-bark.ogg"
    shutil.copy(STAMPS / BARK, copy)
    same = lib.search(audio=copy, kind="audio", k=3)
    assert same.query_text is None
    assert Path(same[0].path).name == SOUNDS[BARK] and "sound" in same[0].signals
    assert same[0].relevance >= 0.9 and all(r.relevance < 0.5 for r in same[1:]), same
    audio = query_hearing(decode_audio(STAMPS / BARK), seed=7)
    query = tmp_path / "my-recording.wav"
    with wave.open(str(query), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
    heard = lib.search(audio=query, kind="audio", k=3, min_relevance=0.0)
    assert Path(heard[0].path).name == SOUNDS[BARK], [r.path for r in heard]


def test_the_clip_as_query_mappings_were_fitted_on_validation_clips_only():
    cal = load_calibration(MODEL)
    assert {"sound:sound", "sound:visual", "sound:text"} <= set(cal.fields)
    report = json.loads(calibration_path(MODEL).read_text(encoding="utf-8"))["report"]
    val = {p.item_id for p in tuxpaint_sound_splits()["val"]}
    for name in ("sound:sound", "sound:visual", "sound:text"):
        assert 0 < report[name]["queries"] <= len(val)
        assert report[name]["positives"] == report[name]["queries"]  # one relevant candidate each


def test_a_held_out_bark_s_likeliest_labels_are_dog_labels_and_its_bridge_points_at_dogs():
    """The label bridge, untrained: Whisper's decoder scores everyday sound labels after "(" and
    the bark (a validation folder's clip, never trained on) comes out as a dog before anything
    else; its bridge vector is nearer "a dog barking" than to other sounds' descriptions."""
    heard = listen(decode_audio(STAMPS / BARK), BARK, labels=True)
    top = [label for label, _ in heard.labels[:4]]
    assert all(label.startswith("dog ") for label in top), heard.labels[:8]
    assert len(heard.labels) == LABELS_KEPT and set(dict(heard.labels)) <= set(sound_labels())
    encoder = get_encoder(MODEL)
    bridge = bridge_vectors(encoder, [heard])[0]
    queries = encoder.encode_text(["a dog barking", "a cymbal crash", "a kettle boiling", "a car horn"], mode="query")
    sims = queries @ bridge
    assert sims.argmax() == 0, sims
    assert np.allclose(bridge_vectors(encoder, [Heard(heard.features)]), 0.0)  # no labels: no bridge
