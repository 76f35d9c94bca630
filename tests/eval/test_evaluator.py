"""The evaluator on a hand-made set whose answers are known: coloured squares and colour names."""
import json

import numpy as np
import pytest
from PIL import Image

from xmodal.eval.baselines import RandomEncoder
from xmodal.eval.evaluator import CrossModalEvaluator
from xmodal.eval.report import format_table, plot, write_json
from xmodal.datasets.pairs import Pair

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0)}
FRENCH = {"red": "rouge", "green": "vert", "blue": "bleu", "yellow": "jaune"}


class ColourEncoder:
    """A transparent stand-in model: images by mean colour, texts by colour name (any language).

    ``swap`` makes it confuse red and green in text, giving a known, imperfect answer.
    """

    name = "colour"
    modalities = frozenset({"text", "image"})

    def __init__(self, swap: bool = False):
        self.swap = swap

    def encode_image(self, images):
        vecs = np.array([np.asarray(im.convert("RGB"), np.float32).reshape(-1, 3).mean(0) for im in images])
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)

    def encode_text(self, texts, mode="query"):
        names = {**{k: k for k in COLOURS}, **{v: k for k, v in FRENCH.items()}}
        out = []
        for t in texts:
            name = names[t.split()[-1]] if t.split()[-1] in names else "red"
            if self.swap and name in ("red", "green"):
                name = "green" if name == "red" else "red"
            out.append(COLOURS[name])
        v = np.array(out, np.float32) + 1e-3
        return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("colours")
    out = []
    for name, rgb in COLOURS.items():
        path = folder / f"{name}.png"
        Image.new("RGB", (32, 32), rgb).save(path)
        out.append(Pair(str(path), name, "en", group=name, category=name))
        out.append(Pair(str(path), FRENCH[name], "fr", group=name, category=name))
    return out


def test_a_perfect_encoder_scores_one_everywhere(pairs):
    res = CrossModalEvaluator(pairs, name="colours", ks=(1, 2))(ColourEncoder())
    assert res["images"] == 4 and set(res["languages"]) == {"en", "fr"}
    for lang in ("en", "fr"):
        for direction in ("text_to_image", "image_to_text"):
            m = res["languages"][lang][direction]
            assert (m["R@1"], m["R@2"], m["median_rank"], m["queries"]) == (1.0, 1.0, 1.0, 4)


def test_a_confused_encoder_gets_the_known_ranks(pairs):
    res = CrossModalEvaluator(pairs, ks=(1, 2), languages=["en"])(ColourEncoder(swap=True))
    t2i = res["languages"]["en"]["text_to_image"]
    # "red" and "green" now point at each other's squares; "blue" and "yellow" stay right.
    assert t2i["R@1"] == 0.5
    assert t2i["queries"] == 4
    assert t2i["median_rank"] > 1


def test_zero_shot_accuracy_and_table(pairs, tmp_path):
    ev = CrossModalEvaluator(pairs, prompt="a picture of {}", languages=["en"])
    assert ev(ColourEncoder(swap=True))["zero_shot"]["accuracy"] == 0.5
    res = ev(ColourEncoder())
    zs = res["zero_shot"]
    assert (zs["classes"], zs["images"], zs["accuracy"], zs["majority_class"]) == (4, 4, 1.0, 0.25)
    table = format_table([res])
    assert "text→image" in table and "image→text" in table and "zero-shot" in table
    j = write_json([res], tmp_path / "r.json")
    assert json.loads(j.read_text())[0]["model"] == "colour"
    png = plot([res], tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_random_encoder_is_deterministic_and_near_chance(pairs):
    a = CrossModalEvaluator(pairs, ks=(1,))(RandomEncoder(dim=16))
    b = CrossModalEvaluator(pairs, ks=(1,))(RandomEncoder(dim=16))
    assert a["languages"] == b["languages"]
    assert a["languages"]["en"]["text_to_image"]["R@1"] < 1.0


class SpeakingColourEncoder(ColourEncoder):
    """ColourEncoder that also "hears" a clip (see ``said``)."""

    modalities = frozenset({"text", "image", "audio"})


def said(encoder, clip, keywords):
    """A stand-in for speech recognition, so the speech bookkeeping is checked with known answers:
    the clip file holds the words said; an empty clip is no speech. The keyword index holds the
    gallery's file names, as the library searched would."""
    from pathlib import Path

    assert keywords.count() == 4
    text = Path(clip).read_text()
    return encoder.encode_text([text])[0] if text else None


def test_speech_is_scored_per_language_next_to_the_typed_text(pairs, tmp_path):
    spoken = []
    for i, p in enumerate(pairs):
        clip = tmp_path / f"clip{i}.txt"
        # The French red clip says nothing: a miss at the chance rank, counted as unheard.
        clip.write_text("" if p.text == "rouge" else p.text)
        spoken.append(Pair(p.image, p.text, p.language, speech=str(clip), group=p.group, category=p.category))
    res = CrossModalEvaluator(spoken, ks=(1,), speech_query=said)(SpeakingColourEncoder())
    sp = res["speech_to_image"]
    assert set(sp["languages"]) == {"en", "fr"}
    assert sp["languages"]["en"]["speech_to_image"]["R@1"] == 1.0 and sp["languages"]["en"]["unheard"] == 0
    fr = sp["languages"]["fr"]
    assert fr["unheard"] == 1 and fr["speech_to_image"]["R@1"] == 0.75
    assert fr["typed_text_to_image"]["R@1"] == 1.0
    assert sp["queries"] == 8 and sp["unheard"] == 1
    capped = CrossModalEvaluator(spoken, ks=(1,), max_speech=2, zero_shot=False,
                                 speech_query=said)(SpeakingColourEncoder())
    assert capped["speech_to_image"]["languages"]["fr"]["speech_to_image"]["queries"] == 2
    assert "speech→image" in format_table([res])
