"""The label bridge puts photos and their descriptions near each other in MiniLM's space."""
import numpy as np
import pytest
import skimage.data
from PIL import Image

from tests.media.helpers import text_image
from xmodal.encoders import get_encoder


@pytest.fixture(scope="module")
def bridge():
    return get_encoder("label-bridge")


def test_photos_match_their_descriptions(bridge):
    images = [Image.fromarray(skimage.data.coffee()), Image.fromarray(skimage.data.chelsea())]
    v = bridge.encode_image(images)
    assert v.shape == (2, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    q = bridge.encode_text(["a cup of coffee", "a cat"])
    sims = q @ v.T
    assert sims[0, 0] > sims[0, 1] and sims[1, 1] > sims[1, 0]


def test_text_in_the_picture_is_used(bridge):
    poster = text_image(["Annual tax return 2024"])
    blank = Image.new("RGB", poster.size, "white")
    v = bridge.encode_image([poster, blank])
    q = bridge.encode_text(["tax return documents"])[0]
    assert q @ v[0] > q @ v[1] + 0.2


def test_label_weights_keep_top_labels_and_sum_to_one(bridge):
    logits = np.full((1, 1000), -10.0, np.float32)
    logits[0, [281, 282, 285]] = [5.0, 4.0, 0.0]
    w = bridge.label_weights(logits)
    assert w.sum() == pytest.approx(1.0) and set(np.flatnonzero(w[0])) == {281, 282}
