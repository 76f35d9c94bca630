"""The photo-native bridge and the shipped default, measured on real photographs.

The last test is the issue's promise: on the photo validation set (GCompris + scikit-image
photographs, never trained on) the shipped default ranks photos at least as well as the untrained
label bridge it starts from. It encodes the real photos with the real models every run.
"""
import numpy as np
import pytest
import skimage.data
from PIL import Image

from xmodal.encoders import get_encoder
from xmodal.encoders.label_bridge import (LabelBridgeEncoder, basic_level_name, class_phrases, imagenet_words,
                                          soft_label_weights)
from xmodal.encoders.towers import imagenet_classes
from xmodal.eval.evaluator import CrossModalEvaluator
from xmodal.datasets.gcompris import photo_validation_pairs


def test_wordnet_words_line_up_with_the_imagenet_logits():
    words, names = imagenet_words(), imagenet_classes()
    assert len(words) == 1000 and len({w["wnid"] for w in words}) == 1000
    # The short class names are WordNet lemmas of the same synset for almost every class.
    same = sum(n.lower() in {lemma["name"].lower() for lemma in w["lemmas"]} for n, w in zip(names, words))
    assert same >= 900, same
    assert basic_level_name(words[207]) == "dog"      # golden retriever
    assert basic_level_name(words[281]) == "cat"      # tabby
    assert basic_level_name(words[511]) == "car"      # convertible


def test_photo_vocabulary_phrases_each_class_with_its_hypernyms():
    phrases = class_phrases("wordnet")
    assert phrases[207] == [("a photo of a golden retriever, a kind of retriever.", 1.0), ("a photo of a dog.", 0.5)]
    assert class_phrases("imagenet")[207] == [("a photo of a golden retriever", 1.0)]
    with pytest.raises(ValueError):
        class_phrases("klingon")


def test_soft_label_weights_mix_the_top_k():
    logits = np.zeros((2, 1000), np.float32)
    logits[0, :3] = [6.0, 4.0, 2.0]
    w = soft_label_weights(logits, topk=2, temperature=2.0)
    assert w.shape == (2, 1000) and np.allclose(w.sum(1), 1.0)
    assert np.count_nonzero(w[0]) == 2 and w[0, 0] == pytest.approx(1 / (1 + np.exp(-1.0)), rel=1e-5)


def test_detected_people_move_a_photo_towards_person_captions():
    astronaut = Image.fromarray(skimage.data.astronaut())
    with_people = get_encoder("photo-bridge", detect=True, ocr=False)
    without = get_encoder("photo-bridge", detect=False, ocr=False)
    q = with_people.encode_text(["a photo of a woman"])[0]
    assert q @ with_people.encode_image([astronaut])[0] > q @ without.encode_image([astronaut])[0] + 0.05


def test_the_default_takes_detector_words_when_asked():
    astronaut = Image.fromarray(skimage.data.astronaut())
    on, off = get_encoder("xmodal-lite", detect=True), get_encoder("xmodal-lite", detect=False)
    assert on.detect_weight > 0 and get_encoder("xmodal-lite").use_detect is False  # off by default
    q = on.encode_text(["a photo of a woman"])[0]
    assert q @ on.encode_image([astronaut])[0] > q @ off.encode_image([astronaut])[0]


@pytest.fixture(scope="module")
def photos():
    return CrossModalEvaluator(photo_validation_pairs(["en"]), name="photos-val", speech=False, zero_shot=False)


def test_shipped_default_is_not_below_the_label_bridge_on_photos(photos):
    bridge = photos(LabelBridgeEncoder(ocr=False))["languages"]["en"]["text_to_image"]
    default = photos(get_encoder("xmodal-lite"))["languages"]["en"]["text_to_image"]
    assert default["queries"] >= 100
    assert default["R@10"] >= bridge["R@10"], (default, bridge)
