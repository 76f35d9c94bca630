"""The torch-free query path computes what the torch path computes.

MiniLM through ONNX Runtime + tokenizers against transformers + PyTorch, the numpy heads against
the torch heads they were trained as, and ``xmodal-lite``'s text vectors end to end.
"""
import numpy as np
import pytest
import torch

from xmodal.encoders.base import l2_normalise
from xmodal.encoders.heads import NumpyHeads, read_head_weights
from xmodal.encoders.lite import WEIGHTS_DIR, XmodalLite
from xmodal.encoders.projection import DualHeads, ImageHead, LabelBridge, TextHead, load_heads, save_heads
from xmodal.encoders.text_backends import OnnxMiniLM, TorchMiniLM, make_text_backend
from xmodal.encoders.towers import MiniLMTower
from xmodal.errors import InvalidInput, StorageError

# Several scripts and languages, punctuation, accents, emoji, an empty text and one longer than the
# 256-token cut (so truncation is exercised too).
SENTENCES = [
    "A cat sleeps on the sofa", "a photo of a red bicycle leaning on a wall", "Le chat dort sur le canapé",
    "Der Hund läuft schnell durch den Park.", "¿Dónde está la estación de tren?", "Кошка спит на диване",
    "猫在沙发上睡觉", "القطة نائمة على الأريكة", "東京タワーの夜景", "naïve café résumé — “quoted” text",
    "emoji 🐱🚀 and symbols #42 @home", "", "x", " ".join(["guitar strings and tuning pegs"] * 80),
]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def backends():
    return TorchMiniLM(), OnnxMiniLM()


def test_tokenizers_gives_the_ids_transformers_gives(backends):
    torch_backend, onnx_backend = backends
    ref = torch_backend.tokenizer(SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="np")
    got = onnx_backend.tokenize(SENTENCES)
    assert got["input_ids"].shape[1] == 256  # the long sentence was cut, the rest padded to it
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(got[name], ref[name], err_msg=name)
    assert torch_backend.tokenizer.get_vocab() == onnx_backend.tokenizer.get_vocab()


def test_onnx_minilm_matches_torch_in_every_language(backends):
    torch_backend, onnx_backend = backends
    ref, got = torch_backend.run(SENTENCES), onnx_backend.run(SENTENCES)
    assert got.shape == ref.shape == (len(SENTENCES), 384) and got.dtype == np.float32
    assert cosine(ref, got).min() >= 0.999
    # Batching (padding to another length) does not change a sentence's vector.
    one = np.concatenate([onnx_backend.run([s]) for s in SENTENCES[:4]])
    assert cosine(one, got[:4]).min() >= 0.9999


def test_minilm_tower_uses_the_backend_it_is_given():
    assert MiniLMTower(backend="onnx").backend.name == "onnx"
    assert MiniLMTower(backend="torch").backend.name == "torch"
    with pytest.raises(InvalidInput, match="text backend 'tensorflow'"):
        make_text_backend("tensorflow")


@pytest.mark.parametrize("name", ["xmodal-lite.npz", "xmodal-lite-v1.npz", "xmodal-lite-multilingual.npz",
                                  "xmodal-lite-multilingual-v1.npz"])
def test_numpy_heads_match_the_torch_heads(name):
    path = WEIGHTS_DIR / name
    ref, ref_meta = load_heads(path)
    heads, meta = NumpyHeads.load(path)
    assert meta == ref_meta
    rng = np.random.default_rng(0)
    feats = rng.normal(2.0, 3.0, (16, 1280)).astype(np.float32)
    logits = rng.normal(0.0, 4.0, (16, 1000)).astype(np.float32)
    text = rng.normal(0.0, 1.0, (16, 384)).astype(np.float32)
    with torch.inference_mode():
        ref_image = ref.image(torch.from_numpy(feats), torch.from_numpy(logits)).numpy()
        ref_text = ref.text(torch.from_numpy(text)).numpy()
    np.testing.assert_allclose(heads.image(feats, logits), ref_image, atol=1e-5)
    np.testing.assert_allclose(heads.text(text), ref_text, atol=1e-6)


def test_numpy_heads_match_a_linear_text_head_and_no_bridge(tmp_path):
    """The shipped heads have an identity text head and a bridge: the other branches, on a file of their own."""
    rng = np.random.default_rng(1)
    dim, feat_dim = 384, 1280
    stats = (rng.normal(0, 1, feat_dim).astype(np.float32), rng.uniform(0.5, 2, feat_dim).astype(np.float32))
    for bridge, text_kind, cap in ((None, "linear", 0.3), (LabelBridge(rng.normal(0, 1, (1000, dim)), 5, 2.0), "linear", None)):
        heads = DualHeads(ImageHead(feat_dim, dim, *stats, bridge, cap), TextHead(dim, text_kind))
        with torch.no_grad():
            for p in heads.parameters():
                p.add_(torch.from_numpy(rng.normal(0, 0.05, tuple(p.shape)).astype(np.float32)))
        path = save_heads(heads, tmp_path / f"h-{bridge is None}.npz", {"text_tower": "minilm"})
        ref, _ = load_heads(path)  # the saved (float16) weights on both sides
        np_heads, meta = NumpyHeads.load(path)
        assert meta["text_head"] == "linear" and meta["bridge"] is (bridge is not None)
        feats = rng.normal(0, 3, (8, feat_dim)).astype(np.float32)
        logits = rng.normal(0, 3, (8, 1000)).astype(np.float32)
        text = rng.normal(0, 1, (8, dim)).astype(np.float32)
        with torch.inference_mode():
            ref_image = ref.image(torch.from_numpy(feats), torch.from_numpy(logits)).numpy()
            ref_text = ref.text(torch.from_numpy(text)).numpy()
        np.testing.assert_allclose(np_heads.image(feats, logits), ref_image, atol=1e-5)
        np.testing.assert_allclose(np_heads.text(text), ref_text, atol=1e-5)
        if bridge is not None:
            with pytest.raises(InvalidInput, match="logits"):
                np_heads.image(feats)


def test_xmodal_lite_text_vectors_match_the_torch_path(backends):
    """End to end: what a query becomes, against transformers + the torch heads (the path before)."""
    enc = XmodalLite()
    assert enc.text.backend.name == "onnx" and "image" not in vars(enc)  # the image tower is not loaded for text
    got = enc.encode_text(SENTENCES[:-1], mode="query")
    heads, _ = load_heads(enc.weights_path)
    feats = l2_normalise(backends[0].run(SENTENCES[:-1]))  # what the tower hands the heads
    with torch.inference_mode():
        ref = heads.text(torch.from_numpy(feats)).numpy()
    assert cosine(ref, got).min() >= 0.999


def test_bad_weight_files_name_the_file_and_the_problem(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(StorageError, match="garbage.npz.*cannot be read"):
        read_head_weights(garbage)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(StorageError, match="other.npz.*not a projection-heads file"):
        NumpyHeads.load(other)
