"""The shipped models, loaded through the registry, on Tux Paint folders held out of training."""
import numpy as np
import pytest

from xmodal.encoders import get_encoder
from xmodal.datasets.pairs import items_of
from xmodal.datasets.tuxpaint import tuxpaint_splits

IMAGES = 20


@pytest.fixture(scope="module")
def held_out():
    test = [p for p in tuxpaint_splits()["test"] if p.image.endswith(".png")]
    items = items_of(test)[::7][:IMAGES]  # spread over several held-out folders
    by_lang = {lang: {p.item_id: p for p in test if p.language == lang and p.item_id in set(items)}
               for lang in ("en", "zh-CN")}
    return items, by_lang


def _top1(encoder, items, pairs) -> float:
    have = [it for it in items if it in pairs]
    imgs = encoder.encode_image([pairs[it].image for it in have])
    txt = encoder.encode_text([pairs[it].text for it in have])
    return float(((txt @ imgs.T).argmax(axis=1) == np.arange(len(have))).mean())


def test_xmodal_lite_finds_held_out_images_from_their_descriptions(held_out):
    items, by_lang = held_out
    enc = get_encoder("xmodal-lite")
    assert enc.name == "xmodal-lite" and enc.dim == 384 and {"text", "image", "audio"} <= set(enc.modalities)
    v = enc.encode_text(["a red apple"])
    assert v.shape == (1, 384) and abs(float(np.linalg.norm(v)) - 1) < 1e-5
    assert _top1(enc, items, by_lang["en"]) > 3 / IMAGES  # chance is 1/20


def test_xmodal_lite_multilingual_answers_chinese_queries(held_out):
    items, by_lang = held_out
    enc = get_encoder("xmodal-lite-multilingual")
    assert enc.name == "xmodal-lite-multilingual"
    assert _top1(enc, items, by_lang["zh-CN"]) > 3 / len(by_lang["zh-CN"])


def test_missing_weights_raise_a_clear_error(tmp_path):
    from xmodal.encoders.lite import XmodalLite
    from xmodal.errors import NotFound

    with pytest.raises(NotFound, match="nope.npz"):
        XmodalLite(weights=tmp_path / "nope.npz")


@pytest.mark.parametrize("name", ["xmodal-lite", "xmodal-lite-multilingual"])
def test_shipped_heads_were_trained_on_todays_image_tower(name):
    """Heads are tied to the exact image preprocessing: a change upstream (resize filter, pixel
    normalisation) silently degrades them, so it must fail here and trigger `make train`."""
    from xmodal.train.features import image_tower_fingerprint

    assert get_encoder(name).meta["image_tower_fingerprint"] == image_tower_fingerprint()
