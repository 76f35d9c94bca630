"""The packaged towers load offline and behave like the models they are."""
import numpy as np
import pytest
import skimage.data
from PIL import Image

from tests.media.helpers import write_jpeg
from xmodal.encoders.towers import image_tower, imagenet_classes, text_tower


@pytest.fixture(scope="module")
def photos():
    return {"coffee": Image.fromarray(skimage.data.coffee()), "chelsea": Image.fromarray(skimage.data.chelsea())}


def test_class_names_are_the_imagenet_1k_list():
    names = imagenet_classes()
    assert len(names) == 1000 and names[0] == "tench" and names[281] == "tabby" and names[967] == "espresso"


def test_efficientnet_classifies_coffee_and_cat(photos):
    preds = image_tower().predict([photos["coffee"], photos["chelsea"]], topk=3)
    assert preds[0][0][0] == "espresso" and preds[0][0][1] > 0.5
    assert {label for label, _ in preds[1]} <= {"tabby", "tiger cat", "Egyptian cat", "lynx", "Persian cat"}
    assert preds[1][0][0] in {"tabby", "tiger cat", "Egyptian cat"}
    assert all(abs(sum(p for _, p in row)) <= 1.0 for row in preds)


def test_features_shape_paths_and_batches_agree(photos, tmp_path):
    tower = image_tower()
    path = write_jpeg(photos["chelsea"], tmp_path / "cat.jpg", quality=95)
    both = tower.features([photos["coffee"], path], batch_size=1)
    assert both.shape == (2, 1280) and both.dtype == np.float32
    assert np.linalg.norm(both, axis=1).min() > 1.0  # pooled features, not normalised
    again = tower.features([photos["coffee"], path], batch_size=2, show_progress=True)
    np.testing.assert_allclose(both, again, rtol=1e-4, atol=1e-4)
    assert tower.features([]).shape == (0, 1280)


def test_torch_and_onnx_backends_agree(photos):
    from xmodal.encoders.image_backends import OnnxBackend, TorchBackend
    from xmodal.encoders.towers import preprocess_image

    pixels = np.stack([preprocess_image(photos["coffee"]), preprocess_image(photos["chelsea"])])
    f1, l1 = TorchBackend().run(pixels)
    f2, l2 = OnnxBackend().run(pixels)
    np.testing.assert_allclose(f1, f2, atol=1e-3)
    np.testing.assert_allclose(l1, l2, atol=1e-3)


def test_minilm_paraphrase_is_closer_than_unrelated():
    v = text_tower("minilm").features(["A cat sleeps on the sofa", "A kitten is napping on the couch",
                                       "Interest rates rose again this quarter"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3


def test_e5_puts_chinese_and_english_of_one_sentence_together():
    tower = text_tower("e5-multilingual")
    q = tower.features(["The cat is sleeping on the sofa"], mode="query")
    p = tower.features(["猫在沙发上睡觉", "股票市场今天大幅下跌", "The cat is sleeping on the sofa"], mode="passage")
    sims = (p @ q.T).ravel()
    assert sims[0] > sims[1] + 0.05
    # query: / passage: prefixes are applied: the same text differs by mode.
    assert not np.allclose(q[0], p[2], atol=1e-3)


def test_text_tower_rejects_unknown_names_and_modes():
    from xmodal.errors import InvalidInput, NotFound

    with pytest.raises(NotFound, match="bert-xl"):
        text_tower("bert-xl")
    with pytest.raises(InvalidInput, match="mode"):
        text_tower("minilm").features(["x"], mode="document")


def test_text_towers_are_safe_to_share_between_threads():
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"sentence number {i} about {'cats' if i % 2 else 'trains'}" + " and more" * (i % 7) for i in range(48)]
    for name in ("minilm", "e5-multilingual"):
        tower = text_tower(name)
        expected = np.concatenate([tower.features(texts[i:i + 6], mode="passage") for i in range(0, 48, 6)])
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda i: tower.features(texts[i:i + 6], mode="passage"), range(0, 48, 6)))
        np.testing.assert_allclose(np.concatenate(got), expected, atol=1e-5)
