"""Data sets and splits on the real Tux Paint stamps, PAIRS files, and the feature store."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xmodal.config import CONFIG
from xmodal.errors import InvalidInput, NotFound
from xmodal.train.features import FeatureStore
from xmodal.datasets.pairs import items_of, read_pairs, write_pairs
from xmodal.datasets.splits import normalize_text, split_pairs
from xmodal.datasets.tuxpaint import load_tuxpaint, parse_description_file

TUX = Path(CONFIG.train.tuxpaint_dir)


@pytest.fixture(scope="module")
def tux():
    return load_tuxpaint()


def test_description_file_gives_english_first_line_and_translations():
    texts = parse_description_file(TUX / "symbols/money/us/coins/001penny.txt")
    assert texts["en"] == "A US 1 cent piece ($.01) called a penny."
    assert texts["zh-CN"] == "美元一分硬币。"
    assert texts["fr"].startswith("Une pièce")
    assert len(texts) > 60


def test_tuxpaint_pairs_carry_language_speech_group_and_category(tux):
    penny = [p for p in tux if p.item == "symbols/money/us/coins/001penny.png"]
    assert {p.language for p in penny} >= {"en", "zh-CN", "fr"}
    fr = next(p for p in penny if p.language == "fr")
    assert fr.speech and fr.speech.endswith("001penny_desc_fr.ogg") and Path(fr.speech).is_file()
    assert fr.group == "symbols/money/us/coins" and fr.category == "symbols and letters"
    assert not any("_mirror" in p.image for p in tux)
    assert len(items_of(tux)) > 900


def test_split_holds_out_whole_folders_and_never_shares_a_description(tux):
    s = split_pairs(tux, anchor_languages=["en", "zh-CN"])
    groups = {name: {p.group for p in s[name]} for name in s}
    assert not (groups["train"] & groups["test"]) and not (groups["train"] & groups["val"])
    assert not (groups["val"] & groups["test"])
    texts = {name: {(p.language, normalize_text(p.text)) for p in s[name]} for name in s}
    assert not (texts["train"] & texts["test"]) and not (texts["val"] & texts["test"])
    assert not (texts["train"] & texts["val"])
    n = {name: len(items_of(s[name])) for name in s}
    assert n["test"] > 100 and n["val"] > 30 and n["train"] > 500
    again = split_pairs(tux, anchor_languages=["en", "zh-CN"])
    assert [p.item_id for p in again["test"]] == [p.item_id for p in s["test"]]


def test_english_split_merges_folders_that_share_a_description(tux):
    en = [p for p in tux if p.language == "en"]
    s = split_pairs(en)
    where = {}
    for name, ps in s.items():
        for p in ps:
            where.setdefault(normalize_text(p.text), set()).add(name)
    assert all(len(v) == 1 for v in where.values())


def _image(path: Path, colour) -> Path:
    Image.new("RGB", (40, 30), colour).save(path)
    return path


def test_pairs_file_jsonl_and_csv_round_trip(tmp_path):
    _image(tmp_path / "a.png", (255, 0, 0))
    _image(tmp_path / "b.png", (0, 0, 255))
    jl = tmp_path / "pairs.jsonl"
    jl.write_text(json.dumps({"image": "a.png", "text": "a red card", "group": "g1"}) + "\n\n"
                  + json.dumps({"image": "b.png", "text": "a blue card", "language": "en", "category": "cards"}) + "\n")
    pairs = read_pairs(jl)
    assert [p.text for p in pairs] == ["a red card", "a blue card"]
    assert pairs[0].image == str(tmp_path / "a.png") and pairs[0].group == "g1" and pairs[1].category == "cards"
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text("image,text\na.png,a red card\nb.png,a blue card\n")
    assert [p.text for p in read_pairs(csv_path)] == ["a red card", "a blue card"]
    out = write_pairs(pairs, tmp_path / "copy.jsonl")
    assert read_pairs(out) == pairs


@pytest.mark.parametrize("line, error, words", [
    ('{"image": "a.png"}', InvalidInput, "line 1: the field 'text'"),
    ('{"image": "zz.png", "text": "x"}', NotFound, "zz.png"),
    ('{"image": "a.png", "text": "x", "colour": 1}', InvalidInput, "unknown field"),
    ('not json', InvalidInput, "line 1: not valid JSON"),
])
def test_bad_pairs_files_name_the_line_and_problem(tmp_path, line, error, words):
    _image(tmp_path / "a.png", (0, 255, 0))
    f = tmp_path / "bad.jsonl"
    f.write_text(line + "\n")
    with pytest.raises(error, match=words.replace("(", r"\(")):
        read_pairs(f)


def test_feature_store_appends_reopens_and_repairs_a_torn_write(tmp_path):
    store = FeatureStore(tmp_path / "s", dim=3)
    store.add(["a", "b"], np.array([[1, 2, 3], [4, 5, 6]], np.float32))
    again = FeatureStore(tmp_path / "s", dim=3)
    assert again.get(["b", "a"]).tolist() == [[4, 5, 6], [1, 2, 3]]
    assert again.missing(["a", "c", "c"]) == ["c"]
    # A crash after the rows but before the index line: the orphan row is dropped, appends line up.
    with open(tmp_path / "s" / "rows.f32", "ab") as fh:
        fh.write(np.array([9, 9, 9], np.float32).tobytes())
    torn = FeatureStore(tmp_path / "s", dim=3)
    assert len(torn) == 2
    torn.add(["c"], np.array([[7, 8, 9]], np.float32))
    assert FeatureStore(tmp_path / "s", dim=3).get(["c", "a"]).tolist() == [[7, 8, 9], [1, 2, 3]]
