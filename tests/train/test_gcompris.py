"""The photo validation set: Qt .rcc / .qm readers on the real gcompris-qt-data package, the
extracted GCompris photographs, and hold-out hygiene against every training source present."""
import hashlib
import json
import io
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from xmodal.cli import main
from xmodal.errors import InvalidInput, NotFound
from xmodal.datasets.gcompris import (ACTIVITIES, GCOMPRIS_DIR, SKIMAGE_PHOTOS, attribution, gcompris_photos,
                                   load_gcompris_photos, photo_validation_pairs, read_qm, read_rcc)
from xmodal.datasets.pairs import items_of, languages_of
from xmodal.train.recipes import extra_pairs, tuxpaint_splits

RCC = GCOMPRIS_DIR / "rcc"
QM = GCOMPRIS_DIR / "translations"
MONUMENTS = "gcompris/src/activities/explore_monuments/resource/"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gcompris-cache")


@pytest.fixture(scope="module")
def photos(cache):
    return gcompris_photos(cache=cache)


@pytest.fixture(scope="module")
def val_pairs(cache):
    return photo_validation_pairs(cache=cache)


def test_rcc_reader_walks_the_tree_and_inflates_compressed_entries():
    files = read_rcc(RCC / "explore_monuments.rcc")
    assert sum(p.endswith(".webp") for p in files) == 49
    board = files[MONUMENTS + "board/board1.qml"]  # a zlib-compressed entry
    assert board.startswith(b"/* GCompris") and b'qsTr("Colosseum")' in board
    with Image.open(io.BytesIO(files[MONUMENTS + "wonders/colosseum.webp"])) as im:
        im.load()
        assert im.format == "WEBP" and min(im.size) > 200


def test_rcc_reader_reads_every_bundle_of_the_package():
    bundles = sorted(RCC.glob("*.rcc"))
    assert len(bundles) > 150
    total = sum(len(read_rcc(b)) for b in bundles)
    assert total > 4000


def test_rcc_reader_rejects_other_and_truncated_files(tmp_path):
    other = tmp_path / "x.rcc"
    other.write_bytes(b"PK\x03\x04 not a resource file")
    with pytest.raises(InvalidInput, match="x.rcc.*qres"):
        read_rcc(other)
    cut = tmp_path / "cut.rcc"
    cut.write_bytes((RCC / "explore_farm_animals.rcc").read_bytes()[:5000])
    with pytest.raises(InvalidInput, match="cut.rcc.*damaged"):
        read_rcc(cut)


def test_qm_reader_gives_translations_by_context_and_source():
    fr = read_qm(QM / "gcompris_fr.qm")
    assert fr[("board1", "Colosseum")] == "Le Colisée"
    assert fr[("board13_0", "Tower Bridge in London")] == "Tower Bridge à Londres"
    assert read_qm(QM / "gcompris_de.qm")[("board1", "Colosseum")] == "Kolosseum"
    assert read_qm(QM / "gcompris_zh_TW.qm")[("board1", "Colosseum")].startswith("羅馬競技場")
    assert len(fr) > 3000


def test_qm_reader_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.qm"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(InvalidInput, match="bad.qm.*magic"):
        read_qm(bad)


def test_gcompris_photos_are_the_captioned_photographs(photos):
    by_activity = Counter(p.activity for p in photos)
    assert by_activity == {"explore_monuments": 49, "explore_world_animals": 15, "details": 13,
                           "explore_farm_animals": 9, "explore_world_music": 9}
    assert set(by_activity) == set(ACTIVITIES)
    assert not any("VanGogh" in p.resource or "Van_Gogh" in p.resource for p in photos)  # paintings left out
    for p in photos:
        with Image.open(p.image) as im:
            im.load()
            assert im.mode == "RGB" and min(im.size) >= 100, p.resource
        assert p.texts["en"].strip() and p.title.strip(), p.resource


def test_english_comes_from_the_source_strings_and_translations_from_the_catalogues(photos):
    colosseum = next(p for p in photos if p.resource.endswith("wonders/colosseum.webp"))
    assert colosseum.title == "Colosseum"
    assert colosseum.texts["en"].startswith("The Colosseum or Coliseum is today the most recognizable")
    assert colosseum.texts["fr"].startswith("Le Colisée")
    assert colosseum.texts["en"] != colosseum.texts["de"]
    coverage = Counter(lang for p in photos for lang in p.texts)
    full = [lang for lang, n in coverage.items() if n == len(photos)]
    assert len(full) >= 10 and {"en", "fr", "es", "zh-TW", "uk"} <= set(full)
    assert "pt-BR" in coverage and "zh_TW" not in coverage  # Tux Paint's language codes


def test_attribution_names_author_licence_and_source(photos):
    colosseum = next(p for p in photos if p.resource.endswith("wonders/colosseum.webp"))
    assert attribution(colosseum) == ("Colosseum: Urse Ovidiu; Public Domain; "
                                      "https://commons.wikimedia.org/wiki/File:Colosseum_Roma_2009.jpg")
    tower = next(p for p in photos if "TowerBridge" in p.resource)
    assert "David Iliff" in attribution(tower) and "CC-BY-SA" in attribution(tower)
    assert sum(bool(p.attribution.get("license")) for p in photos) >= len(photos) - 1


def test_pairs_have_stable_items_groups_and_languages(cache, photos):
    pairs = load_gcompris_photos(cache=cache)
    assert len(items_of(pairs)) == len(photos)
    colosseum = [p for p in pairs if p.item == "gcompris:" + MONUMENTS + "wonders/colosseum.webp"]
    assert {p.language for p in colosseum} >= {"en", "fr", "de", "zh-TW"}
    assert {p.group for p in colosseum} == {"gcompris/explore_monuments"} and colosseum[0].category == "building"
    french = load_gcompris_photos(["fr"], cache=cache)
    assert {p.language for p in french} == {"fr"} and len(french) == len(photos)


def test_extraction_is_cached(cache, photos):
    index = next(cache.glob("*/photos.json"))
    stamp = index.stat().st_mtime_ns
    again = gcompris_photos(cache=cache)
    assert again == photos and index.stat().st_mtime_ns == stamp


def test_missing_package_is_a_clear_error(tmp_path):
    with pytest.raises(NotFound, match="gcompris-qt-data"):
        gcompris_photos(root=tmp_path, cache=tmp_path / "c")


def test_validation_set_joins_gcompris_and_scikit_image(cache, val_pairs, photos):
    items = items_of(val_pairs)
    assert len(items) == len(photos) + len(SKIMAGE_PHOTOS)
    sk = [p for p in val_pairs if p.group == "skimage"]
    assert {p.item for p in sk} == {f"skimage:{name}" for name in SKIMAGE_PHOTOS}
    assert all(Path(p.image).is_file() and p.language == "en" for p in sk)
    assert languages_of(val_pairs)[0] == "en"
    assert {p.language for p in photo_validation_pairs(["fr"], cache=cache)} == {"fr"}


# --- hold-out hygiene: no validation photo is also a training image -------------------------

def pixel_hash(path: str) -> str:
    """sha256 of the decoded pixels (plus size), so a re-encoded copy of an image still matches."""
    with Image.open(path) as im:
        rgba = im.convert("RGBA")
        return hashlib.sha256(f"{rgba.size}".encode() + rgba.tobytes()).hexdigest()


def content_hashes(paths) -> set[str]:
    """Raster images by pixels; vector drawings by file bytes (they have no pixels of their own)."""
    out = set()
    for path in set(paths):
        if path.endswith((".svg", ".svgz")):
            out.add(hashlib.sha256(Path(path).read_bytes()).hexdigest())
        else:
            out.add(pixel_hash(path))
    return out


@pytest.fixture(scope="module")
def val_hashes(val_pairs) -> dict[str, str]:
    images = {p.item_id: p.image for p in val_pairs}
    return {item: pixel_hash(path) for item, path in images.items()}


def test_validation_photos_are_distinct_images(val_hashes):
    assert len(set(val_hashes.values())) == len(val_hashes)


def test_no_validation_photo_is_in_the_tuxpaint_train_split(val_hashes):
    train = content_hashes(p.image for p in tuxpaint_splits()["train"])
    assert len(train) > 500
    clash = {item for item, h in val_hashes.items() if h in train}
    assert not clash


@pytest.mark.parametrize("source", ["emoji", "openclipart"])
def test_no_validation_photo_is_in_the_extra_training_data(val_hashes, source):
    try:
        pairs = extra_pairs(source)
    except NotFound as exc:
        pytest.skip(f"{source} training data not installed: {exc}")
    hashes = content_hashes(p.image for p in pairs)
    assert not {item for item, h in val_hashes.items() if h in hashes}


def test_pixel_hash_sees_through_a_reencoded_copy(tmp_path, photos):
    copy = tmp_path / "copy.png"
    with Image.open(photos[0].image) as im:
        im.save(copy)
    assert pixel_hash(str(copy)) == pixel_hash(photos[0].image) != pixel_hash(photos[1].image)


def test_eval_command_runs_on_photos_val(tmp_path, capsys):
    assert main(["eval", "--set", "photos-val", "--models", "random", "--no-speech", "--languages", "en,fr",
                 "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "text→image" in table and " fr " in table and "110" in table
    result = json.loads((tmp_path / "results.json").read_text())
    assert result[0]["set"] == "photos-val" and result[0]["images"] == 110


def test_eval_puts_photos_and_tux_paint_side_by_side_and_is_reproducible(tmp_path, capsys):
    args = ["eval", "--set", "photos-val,tuxpaint-val", "--models", "random", "--no-speech", "--languages", "en"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    table = capsys.readouterr().out
    assert "photos-val" in table and "tuxpaint-val" in table
    assert main(args + ["--out", str(tmp_path / "b")]) == 0
    runs = [json.loads((tmp_path / d / "results.json").read_text()) for d in ("a", "b")]
    assert [r["set"] for r in runs[0]] == ["photos-val", "tuxpaint-val"]
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(runs[0]) == strip(runs[1])


def test_eval_refuses_an_unknown_set(capsys):
    assert main(["eval", "--set", "photos-val,flickr8k", "--models", "random"]) != 0
    assert "unknown set(s) flickr8k" in capsys.readouterr().err
