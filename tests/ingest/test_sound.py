"""Sounds in the shared space, end to end with the shipped sound head and real clips.

The clips come from Tux Paint folders the head was never trained on (``tuxpaint_sound_splits``:
``animals/mammals/dogs`` and the percussion folder are validation folders, the birds and household
ones test folders); the files are renamed so their names cannot give them away."""
from __future__ import annotations

import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

import xmodal
from tests.ingest.conftest import MODEL
from xmodal.datasets.tuxpaint import tuxpaint_sound_splits
from xmodal.encoders.sound import has_sound_head, load_sound_head, weights_path
from xmodal.errors import InvalidInput, MediaError, StorageError

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
